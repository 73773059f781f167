import { useMutation } from "@tanstack/react-query";
import { api, describe } from "../api/client";
import { useMe } from "../api/me";

/** For a signed-in user whose address is not verified yet: say so, and offer a new link. */
export function VerifyBanner() {
  const me = useMe();
  const resend = useMutation({
    mutationFn: async () => {
      const { data, error, response } = await api.POST("/v1/auth/verify-email/resend");
      if (response.status === 429) throw new Error("Several emails were sent already; try again in a while.");
      if (error || !data) throw new Error(describe(error));
      return data;
    },
  });
  const user = me.data?.user;
  if (!user || user.email_verified !== false) return null;
  return (
    <aside className="banner" aria-label="Email verification">
      <p>
        Your email address {user.email} is not verified yet: open the link we emailed you.{" "}
        {resend.isSuccess ? (
          <span role="status">A new link is on its way to {resend.data.email}.</span>
        ) : (
          <button type="button" className="secondary" disabled={resend.isPending} onClick={() => resend.mutate()}>
            Resend the verification email
          </button>
        )}
      </p>
      {resend.error && <p role="alert" className="error">{resend.error.message}</p>}
    </aside>
  );
}
