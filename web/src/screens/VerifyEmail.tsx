import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, describe, type Schemas } from "../api/client";

type Verification = Schemas["EmailVerification"];

function asVerification(data: Verification | string | undefined): Verification | null {
  return data && typeof data === "object" ? data : null;
}

/** The verification email's link lands here. Opening it only checks the token (mail scanners open
 * every link); the button POSTs it to /v1/auth/verify-email, which verifies. */
export function VerifyEmail({ signedIn }: { signedIn: boolean }) {
  const [params] = useSearchParams();
  const client = useQueryClient();
  const token = params.get("token") ?? "";
  const check = useQuery({
    queryKey: ["verify-email", token],
    enabled: Boolean(token),
    retry: false,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/auth/verify-email", {
        params: { query: { token } },
        headers: { Accept: "application/json" },
      });
      if (error) throw new Error(describe(error));
      return asVerification(data);
    },
  });
  const verify = useMutation({
    mutationFn: async () => {
      const { data, error } = await api.POST("/v1/auth/verify-email", { body: { token } });
      if (error || !data) throw new Error(describe(error));
      return data;
    },
    onSuccess: () => void client.invalidateQueries({ queryKey: ["me"] }),
  });
  const done = verify.data ?? (check.data?.email_verified ? check.data : null);

  let body: ReactNode;
  if (!token) body = <p role="alert" className="error">This link has no token in it; open the link from the email again.</p>;
  else if (check.isPending) body = <p role="status">Checking the link…</p>;
  else if (check.error) body = <p role="alert" className="error">{check.error.message}</p>;
  else if (done) body = <p role="status"><strong>{done.email}</strong> is verified. Thank you.</p>;
  else
    body = (
      <>
        <p>Confirm that <strong>{check.data?.email}</strong> is your address.</p>
        {verify.error && <p role="alert" className="error">{verify.error.message}</p>}
        <button type="button" disabled={verify.isPending} onClick={() => verify.mutate()}>
          {verify.isPending ? "Verifying…" : "Verify my email"}
        </button>
      </>
    );
  const next = signedIn ? <Link to="/my-day">Go to My day</Link> : <Link to="/signin">Sign in</Link>;
  const inner = (
    <>
      <h1>Verify your email</h1>
      {body}
      {(done || check.error) && <p>{next}</p>}
    </>
  );
  return signedIn ? <section className="auth">{inner}</section> : <main className="auth" id="main">{inner}</main>;
}
