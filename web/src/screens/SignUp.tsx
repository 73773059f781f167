import type { FormEvent } from "react";
import { Link } from "react-router-dom";
import { problem, signIn } from "../api/session";
import { Field } from "../components/Field";
import { useAuthAction } from "../components/useAuthAction";

export function SignUp() {
  const { error, busy, run } = useAuthAction();

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const email = String(form.get("email"));
    const password = String(form.get("password"));
    await run(async () => {
      const resp = await fetch("/v1/signup", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
        body: JSON.stringify({ company: form.get("company"), name: form.get("name"), email, password }),
      });
      if (!resp.ok) throw await problem(resp);
      // Signing up answers tokens in the body; the console keeps its session in the cookie
      // instead, so it signs in that way and revokes the body's refresh token at once.
      const created = (await resp.json()) as { refresh_token: string };
      await signIn(email, password);
      await fetch("/v1/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "omit",
        body: JSON.stringify({ refresh_token: created.refresh_token }),
      });
    });
  }

  return (
    <main className="auth" id="main">
      <h1>Create your company account</h1>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Company" name="company" required autoComplete="organization" errors={error?.fields["company"]} />
        <Field label="Your name" name="name" autoComplete="name" errors={error?.fields["name"]} />
        <Field label="Work email" name="email" type="email" required autoComplete="email" errors={error?.fields["email"]} />
        <Field label="Password (at least 10 characters)" name="password" type="password" required
          autoComplete="new-password" errors={error?.fields["password"]} />
        {error && <p role="alert" className="error">{error.message}</p>}
        <button type="submit" disabled={busy}>{busy ? "Creating…" : "Create account"}</button>
      </form>
      <p>
        Have an account? <Link to="/signin">Sign in</Link>
      </p>
    </main>
  );
}
