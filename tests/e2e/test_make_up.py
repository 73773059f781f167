"""`make up` on the embedded default: starts, serves signup and a contact round trip, mails the
signup's verification link to var/mail/sent/ and takes mail in over SMTP, stops clean; under either
web server (CRM_WEB_SERVER=gunicorn, the default, or granian)."""

from __future__ import annotations

import contextlib
import email
import email.utils
import hashlib
import os
import random
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time
import uuid
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
import urllib3

ROOT = Path(__file__).resolve().parents[2]
SERVICES = 8  # gateway, contacts, pipeline, tickets, campaigns, reporting, automation, mail
SMTP_OFFSET = 8  # the inbound SMTP server on CRM_PORT + 8 (not 2525: a developer's own make up may hold it)


def _ports(base: int) -> list[int]:
    """Every port make up binds for CRM_PORT=base: web, /metrics (+1000; the smtp server's +1050),
    the gateway's internal listener (+2000) and the inbound SMTP server."""
    return ([base + i for i in range(SERVICES)] + [base + 1000 + i for i in range(SERVICES)]
            + [base + 1050 + SERVICES - 1, base + 2000, base + SMTP_OFFSET])


def _free_base_port() -> int:
    for _ in range(50):
        # Below Linux's ephemeral range (32768+), so no outgoing connection can hold one of them.
        base = random.randrange(20000, 31000, 10)
        if all(_is_free(p) for p in _ports(base)):
            return base
    raise RuntimeError("no free port range")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _as_in_a_terminal() -> None:
    """Ctrl-C and Ctrl-\\ as a terminal's foreground job gets them. A test run started in the
    background by a shell script (`make test &`) inherits SIGINT and SIGQUIT ignored, and an
    ignored SIGINT stays ignored across exec: make and up.py would never see the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _describe(pids: list[int]) -> str:
    """pid, state and command line of each process (what a hung shutdown is waiting for)."""
    lines = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}/status").exists() else ""
        signals = " ".join(line.replace("\t", "") for line in status.splitlines() if line.startswith(("SigBlk", "SigIgn", "SigPnd")))
        wchan = Path(f"/proc/{pid}/wchan").read_text() if Path(f"/proc/{pid}/wchan").exists() else ""
        lines.append(f"  {pid} state={stat[0]} ppid={stat[1]} wchan={wchan} {signals} {args[:160]}")
    return "\n".join(lines) or "  (none)"


def _processes_using(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(int(pid))
    return found


def _fresh_clone(tmp_path: Path) -> Path:
    """What a newcomer has: a clone of the committed tree with an empty var/ (the venv is shared,
    since it is built from the same lockfile)."""
    # The clone's `make up` must find the shared venv installed for this lockfile: else its install
    # step would point the venv's import paths (crm_dev.pth) at the clone, for every later test too.
    lock = hashlib.sha1((ROOT / "requirements.lock").read_bytes()).hexdigest()[:12]
    assert (ROOT / ".venv" / f".installed-{lock}").exists(), "run `make install` first: .venv is older than requirements.lock"
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    if (ROOT / "web" / "node_modules").is_dir():  # the same lockfile's packages; the build is the clone's own
        (clone / "web" / "node_modules").symlink_to(ROOT / "web" / "node_modules")
    assert not (clone / "var").exists()
    return clone


ERROR_LINE = re.compile(r'"level": "(error|critical)"|Traceback|\[ERROR\]|\[CRITICAL\]|DuplicateTimeseries')


@pytest.mark.parametrize("server", ["gunicorn", "granian"])
def test_first_make_up_in_a_fresh_clone(tmp_path: Path, server: str) -> None:
    """The first start of a fresh clone: events flow at once, the README works, nothing logs an error."""
    clone = _fresh_clone(tmp_path)
    base = _free_base_port()
    env = {**os.environ, "CRM_PORT": str(base), "CRM_WEB_SERVER": server,
           "CRM_INBOUND_SMTP_PORT": str(base + SMTP_OFFSET)}
    for name in ("CRM_DATABASE_URL", "CRM_DATABASE_OWNER_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_REDIS_URL", "CRM_VAR_DIR",
                 "PROMETHEUS_MULTIPROC_DIR", "GUNICORN_BIND", "MAKEFLAGS", "MFLAGS", "CRM_SMTP_URL", "CRM_PUBLIC_URL",
                 "CRM_INBOUND_DOMAIN", "CRM_INBOUND_SMTP_HOST", "CRM_MAIL_MAILDIR"):
        env.pop(name, None)
    proc = subprocess.Popen(["make", "up"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_as_in_a_terminal)
    output: list[str] = []
    reader_failed: list[BaseException] = []

    def read() -> None:
        # Bytes decoded leniently: a reader that died on one odd byte would leave the pipe full,
        # and every process writing to it (up.py's "stopping ..." too) blocked for good.
        try:
            for raw in iter(proc.stdout.readline, b""):
                output.append(raw.decode("utf-8", "replace"))
        except BaseException as exc:
            reader_failed.append(exc)
            raise

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("CRM platform is up" in line for line in list(output)):
            assert proc.poll() is None, "make up exited early:\n" + "".join(output[-50:])
            assert time.monotonic() < deadline, "make up did not start in 120 s:\n" + "".join(output[-50:])
            time.sleep(0.1)
        _mail_lines(clone, base, output)
        _first_minutes(clone, base, output)
        _readme_quickstart(clone, base, output)
        time.sleep(1.0)  # let the workers log whatever the traffic made them log
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            up_py = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == proc.pid]
            left = _describe([proc.pid, *up_py, *_processes_using(str(clone))])
            left += f"\nreader alive: {reader.is_alive()}, failed: {reader_failed!r}"
            for pid in [proc.pid, *_processes_using(str(clone))]:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            raise AssertionError("make up did not stop within 40 s of Ctrl-C; still running:\n" + left
                                 + "\nlast output:\n" + "".join(output[-40:])) from None
        reader.join(timeout=5)
    # Ctrl-C reaches the whole group, as in a terminal: make itself dies of SIGINT once up.py is done
    assert proc.returncode in (0, -signal.SIGINT), "".join(output[-30:])
    assert any(line.startswith("stopping") for line in output), "".join(output[-30:])
    banner = "Starting granian" if server == "granian" else "Starting gunicorn"
    assert any(banner in line for line in output), f"no {banner!r} line: the web server was not {server}"
    errors = [line for line in output if ERROR_LINE.search(line)]
    assert errors == [], "the first start logged errors:\n" + "".join(errors[:20])
    time.sleep(0.5)
    assert _processes_using(str(clone)) == [], "child processes left running"
    assert [p for p in _ports(base) if not _is_free(p)] == [], "a port is still listening"


def _mail_lines(clone: Path, base: int, output: list[str]) -> None:
    """make up says where mail goes (the Maildir: no CRM_SMTP_URL) and where it comes in."""
    text = "".join(output)
    outgoing = re.search(r"outgoing mail: (.*)", text)
    incoming = re.search(r"incoming mail: (.*)", text)
    assert outgoing and incoming, text[-2000:]
    assert f"{clone / 'var' / 'mail' / 'sent' / 'new'}" in outgoing.group(1), outgoing.group(1)
    assert f"SMTP on 127.0.0.1:{base + SMTP_OFFSET} for <mailbox>@inbound.localhost" in incoming.group(1), incoming.group(1)


def _first_minutes(clone: Path, base: int, output: list[str]) -> None:
    """Sign up; the default pipeline is there in the signup's answer, a new contact reaches the summary;
    the verification mail is in the Maildir and its link verifies; mail to +log@ comes in."""
    http = urllib3.PoolManager()
    gateway = f"http://127.0.0.1:{base}"
    signup = http.request("POST", gateway + "/v1/signup", json={"company": "Up Co", "email": "up@example.com",
                                                                "password": "correct horse battery"})
    assert signup.status == 201, signup.data
    auth = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    pipelines = http.request("GET", gateway + "/v1/pipelines", headers=auth).json()["data"]
    assert [(p["name"], p["is_default"]) for p in pipelines] == [("Sales", True)]
    # No time bound here: speed belongs to bench/, and signup hashes a password on a shared 2-core machine.

    created_at = time.monotonic()
    created = http.request("POST", gateway + "/v1/contacts", json={"first_name": "Round", "email": "trip@example.com"},
                           headers=auth)
    assert created.status == 201, created.data
    got = http.request("GET", gateway + created.headers["Location"], headers=auth)
    assert got.status == 200 and got.json()["email"] == "trip@example.com"
    summary: dict = {}
    # a deadline for the event to flow, not a speed goal: on a loaded CI machine reporting can lag
    while time.monotonic() - created_at < 30.0:
        summary = http.request("GET", gateway + "/v1/reports/summary", headers=auth).json()
        if summary.get("contacts") == 1:
            break
        time.sleep(0.05)
    assert summary.get("contacts") == 1, f"the contact did not reach the summary within 30 s: {summary}\n" + "".join(output[-30:])
    # the event also provisioned nothing twice
    assert len(http.request("GET", gateway + "/v1/pipelines", headers=auth).json()["data"]) == 1
    assert http.request("GET", gateway + "/docs").status == 200
    # The gateway's metrics: never on the public port, on the internal listener (a second bind).
    assert http.request("GET", gateway + "/metrics").status == 404
    internal = http.request("GET", f"http://127.0.0.1:{base + 2000}/metrics")
    assert internal.status == 200 and b"crm_http_requests_total" in internal.data
    assert http.request("GET", gateway + "/readyz").json() == {"status": "ready"}
    _mail(clone, base, http, auth, output)


def _mail(clone: Path, base: int, http: urllib3.PoolManager, auth: dict[str, str], output: list[str]) -> None:
    gateway = f"http://127.0.0.1:{base}"
    sent = clone / "var" / "mail" / "sent" / "new"
    msg: EmailMessage | None = None
    deadline = time.monotonic() + 10
    while msg is None and time.monotonic() < deadline:
        for path in sorted(sent.glob("*.eml")) if sent.is_dir() else []:
            parsed = email.message_from_bytes(path.read_bytes(), policy=default)
            if "up@example.com" in str(parsed["To"]):
                msg = parsed  # type: ignore[assignment]
        time.sleep(0.1)
    assert msg is not None, f"no verification mail in {sent} within 10 s\n" + "".join(output[-30:])
    assert str(msg["Subject"]) == "Verify your email for Up Co" and msg["Message-ID"], msg
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    link = re.findall(r"https?://\S+", body.get_content())[0]
    assert link.startswith(gateway + "/verify-email?token="), link  # the console's screen
    # As a person does it on the API's own page (links sent before the console screen): open the
    # link (that alone verifies nothing), press the page's button.
    link = link.replace("/verify-email?", "/v1/auth/verify-email?", 1)
    page = http.request("GET", link, headers={"Accept": "text/html"})
    assert page.status == 200 and b"Confirm that" in page.data, page.data
    token = re.search(r'name="token" value="([^"]+)"', page.data.decode()).group(1)
    opened = http.request("POST", gateway + "/v1/auth/verify-email", json={"token": token})
    assert opened.status == 200 and opened.json()["email_verified"] is True, opened.data
    assert http.request("GET", gateway + "/v1/me", headers=auth).json()["user"]["email_verified"] is True

    log_address = http.request("GET", gateway + "/v1/mail/addresses", headers=auth).json()["addresses"]["log"]
    note = EmailMessage()
    note["From"], note["To"], note["Bcc"] = "Customer <customer@example.com>", "me@example.com", log_address
    note["Subject"], note["Date"] = "Logged from make up", email.utils.formatdate()
    note["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    note.set_content("Hello")
    with smtplib.SMTP("127.0.0.1", base + SMTP_OFFSET, timeout=10) as client:
        client.ehlo()
        assert client.mail("customer@example.com")[0] == 250
        assert client.rcpt(log_address)[0] == 250
        assert client.data(note.as_bytes())[0] == 250
    inbound: list = []
    deadline = time.monotonic() + 10
    while not inbound and time.monotonic() < deadline:
        inbound = [m for m in http.request("GET", gateway + "/v1/mail/inbound", headers=auth).json()["data"]
                   if m["message_id"] == note["Message-ID"]]
        time.sleep(0.1)
    assert inbound and inbound[0]["tag"] == "log", "the +log mail is not at /v1/mail/inbound\n" + "".join(output[-30:])


def _readme_quickstart(clone: Path, base: int, output: list[str]) -> None:
    """The README's curl quickstart, run as written (but for `make up &`, which is already running)."""
    readme = (clone / "README.md").read_text()
    block = readme.split("## Quickstart with curl", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if not line.startswith("make up")]
    script = "set -eu\n" + "\n".join(lines).replace("GW=http://127.0.0.1:8080", f"GW=http://127.0.0.1:{base}")
    script = script.replace("ada@acme.example", "quickstart@acme.example")
    result = subprocess.run(["bash", "-c", script], cwd=clone, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"email": "grace@example.com"' in result.stdout or '"email":"grace@example.com"' in result.stdout, result.stdout
    assert '"contacts"' in result.stdout and '"key": "crm_' in result.stdout.replace('"key":"', '"key": "'), result.stdout
