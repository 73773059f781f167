import type { FormEvent } from "react";
import { Link } from "react-router-dom";
import { signIn } from "../api/session";
import { Field } from "../components/Field";
import { useAuthAction } from "../components/useAuthAction";

export function SignIn() {
  const { error, busy, run } = useAuthAction();

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    await run(() => signIn(String(form.get("email")), String(form.get("password"))));
  }

  return (
    <main className="auth" id="main">
      <h1>Sign in</h1>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Email" name="email" type="email" autoComplete="username" required errors={error?.fields["email"]} />
        <Field label="Password" name="password" type="password" autoComplete="current-password" required
          errors={error?.fields["password"]} />
        {error && <p role="alert" className="error">{error.message}</p>}
        <button type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
      </form>
      <p>
        New here? <Link to="/signup">Create a company account</Link>
      </p>
    </main>
  );
}
