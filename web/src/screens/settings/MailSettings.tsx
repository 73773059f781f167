import { AddressesSection } from "./mail/AddressesSection";
import { DkimSection } from "./mail/DkimSection";
import { SendersSection } from "./mail/SendersSection";
import { SuppressionsSection } from "./mail/SuppressionsSection";

/** Mail: sender addresses, the tenant's inbound addresses, DKIM keys and suppressions. */
export default function MailSettings() {
  return (
    <section aria-labelledby="mail-title">
      <h2 id="mail-title">Mail senders and addresses</h2>
      <SendersSection />
      <AddressesSection />
      <DkimSection />
      <SuppressionsSection />
    </section>
  );
}
