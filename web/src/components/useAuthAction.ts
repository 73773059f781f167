import { useState } from "react";
import { SignInError } from "../api/session";

/** The signed-out screens' one pattern: run an action, busy meanwhile, its problem kept for the form. */
export function useAuthAction() {
  const [error, setError] = useState<SignInError | null>(null);
  const [busy, setBusy] = useState(false);
  async function run(action: () => Promise<void>): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e instanceof SignInError ? e : new SignInError("The platform did not answer.", 0));
    } finally {
      setBusy(false);
    }
  }
  return { error, busy, run };
}
