import { type FormEvent, useState } from "react";
import { Link } from "react-router-dom";
import { Field } from "../components/Field";
import { SignInError, signIn } from "../api/session";

export function SignIn() {
  const [error, setError] = useState<SignInError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await signIn(String(form.get("email")), String(form.get("password")));
    } catch (e) {
      setError(e instanceof SignInError ? e : new SignInError("The platform did not answer.", 0));
    } finally {
      setBusy(false);
    }
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
