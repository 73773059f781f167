/** "crm.contact.created, crm.deal.*" -> the list the API takes (blank entries dropped). */
export function parseEventTypes(text: string): string[] {
  return text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);
}

/** Whether the log still changes by itself: a delivery waits for its next attempt. */
export function stillDelivering(deliveries: { status?: string }[]): boolean {
  return deliveries.some((d) => d.status === "pending");
}

/** Retry is offered for a delivery that gave up, or that is waiting after a failed attempt. */
export function canRetry(d: { status?: string; attempt_count?: number }): boolean {
  return d.status === "failed" || (d.status === "pending" && (d.attempt_count ?? 0) > 0);
}
