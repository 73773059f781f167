import { type QueryKey, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, type Contact, describe, etag } from "../../api/client";
import { useMe } from "../../api/me";
import { RecordSection } from "../../records/page/RecordPage";
import { confirmsErase, downloadJson, erasePhrase, mayHandlePersonalData } from "./gdpr";

/** GDPR access and erasure, for owners and admins: download everything held about the person as
 * JSON, or erase it after typing the contact's email (or name) to confirm. */
export function ContactGdpr({ contact, queryKey }: { contact: Contact; queryKey: QueryKey }) {
  const me = useMe();
  const client = useQueryClient();
  const [erasing, setErasing] = useState(false);
  const [typed, setTyped] = useState("");
  const id = contact.id ?? "";
  const exportIt = useMutation({
    mutationFn: async () => {
      const { data, error } = await api.GET("/v1/contacts/{record_id}/export", { params: { path: { record_id: id } } });
      if (error) throw new Error(describe(error));
      downloadJson(data, `contact-${id}.json`);
    },
  });
  const erase = useMutation({
    mutationFn: async () => {
      const { error } = await api.POST("/v1/contacts/{record_id}/erase", {
        params: { path: { record_id: id }, header: { "If-Match": etag(contact.version) } },
      });
      if (error) throw new Error(describe(error));
    },
    onSuccess: () => void client.invalidateQueries({ queryKey }),
  });

  if (!mayHandlePersonalData(me.data?.roles)) return null;
  const phrase = erasePhrase(contact);
  return (
    <RecordSection id="gdpr" title="Personal data (GDPR)">
      <div className="inline">
        <button type="button" className="secondary" disabled={exportIt.isPending} onClick={() => exportIt.mutate()}>Export personal data</button>
        <button type="button" className="danger-outline" aria-expanded={erasing} onClick={() => setErasing(!erasing)}>Erase this contact…</button>
      </div>
      {exportIt.error && <p role="alert" className="error">{exportIt.error.message}</p>}
      {erasing && (
        <form className="card danger-zone" onSubmit={(e) => { e.preventDefault(); if (confirmsErase(typed, phrase)) erase.mutate(); }}>
          <p>
            Erasing removes the contact's data, timeline and merge history for good; only an anonymous marker stays. This
            cannot be undone.
          </p>
          <label htmlFor="erase-confirm">Type <strong>{phrase}</strong> to confirm</label>
          <input id="erase-confirm" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
          {erase.error && <p role="alert" className="error">{erase.error.message}</p>}
          <div className="inline">
            <button type="submit" className="danger" disabled={!confirmsErase(typed, phrase) || erase.isPending}>Erase for good</button>
            <button type="button" className="link" onClick={() => setErasing(false)}>Cancel</button>
          </div>
        </form>
      )}
    </RecordSection>
  );
}
