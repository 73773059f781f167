/** A decimal amount of the API ("1234.50") in the reader's format; whole units unless `cents`. */
export function money(amount: string | number | null | undefined, currency: string | null | undefined, cents = false): string {
  const value = Number(amount ?? 0);
  const digits = cents ? 2 : 0;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR", minimumFractionDigits: digits,
      maximumFractionDigits: digits }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency ?? ""}`.trim();
  }
}
