"""Verifies the DKIM signature of the message on stdin with dkimpy (an implementation rustig
did not write). argv[1] is the TXT record that DNS would return for the selector; prints
"ok" or "fail" and exits 0 / 1."""
import sys

import dkim

record = sys.argv[1].encode()
message = sys.stdin.buffer.read()


def dns(name, timeout=5):
    return record


ok = dkim.verify(message, dnsfunc=dns)
print("ok" if ok else "fail")
sys.exit(0 if ok else 1)
