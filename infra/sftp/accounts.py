"""Kommun accounts of the SFTP delivery service (SFTPGo, docker-compose.yml's `sftp`).

    python3 infra/sftp/accounts.py KEYS_DIR ACCOUNTS_DIR
    docker compose kill -s HUP sftp        # SFTPGo reloads the accounts

writes ACCOUNTS_DIR/konton.json (the folder SUKF_SFTP_ACCOUNTS_DIR that the sftp service mounts)
in one step, or nothing at all if any key file is wrong.

KEYS_DIR holds one file per reporting unit, named after its code: `0180.pub` for a kommun,
`0180-RKI.pub` for a stadsdel, with the OpenSSH public key(s) the kommun sent (one per line;
blank lines and `#` comments allowed). Each account is chrooted to its own inbox folder
(`<inbox>/<code>/`, where the intake reads it) and may only list, upload, overwrite and delete
files there: no other folder, no sub-folders, no hidden names (the intake skips them), nothing
read back (a stolen key cannot fetch earlier uploads), SFTP with a key only. Inside it, the
folder `aterkoppling/` is the account's own download folder (`<download>/<code>/`, where the
pipeline writes the feedback on the account's uploads): list and download only. Standard library
only, so it runs on the host.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import struct
import sys
import tempfile
from pathlib import Path

# Where the sftp service mounts the inbox volume and the kommuner's download folders (read-only;
# docker-compose.yml), and the file it loads.
INBOX = "/srv/sukf/inbox"
DOWNLOAD = "/srv/sukf/aterkoppling"
ACCOUNTS_FILE = "konton.json"
# A kommun code or a stadsdel code; ASCII only, as SFTPGo user names must be.
CODE = re.compile(r"^\d{4}(?:-[A-Z0-9]{2,6})?\Z")
KEY_TYPES = {
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}
MIN_RSA_BITS = 3072
# Only protects the disk: above the intake's own bound (readers.MAX_FILE_BYTES), so a file that
# is too large still reaches the intake and gets its Swedish verdict.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
PERMISSIONS = ["list", "upload", "overwrite", "delete"]
# The download folder as the account sees it, and what it may do there.
DOWNLOAD_FOLDER = "/aterkoppling"
DOWNLOAD_PERMISSIONS = ["list", "download"]
REFERENCE = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "reference"


class AccountError(ValueError):
    """A key file that cannot become an account (the message is Swedish, for the operator)."""


def _rsa_bits(blob: bytes) -> int:
    """Modulus size of an ssh-rsa key blob (string type, mpint e, mpint n)."""
    offset, fields = 0, []
    for _ in range(3):
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        fields.append(blob[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return len(fields[2].lstrip(b"\0")) * 8


def parse_public_key(line: str, source: str) -> str:
    """The key as `type base64` (its comment dropped), or AccountError saying what is wrong."""
    if "PRIVATE KEY" in line:
        raise AccountError(
            f"{source}: detta är en privat nyckel. Kommunen ska bara skicka den "
            "publika nyckeln (filen som slutar på .pub); be om en ny nyckel."
        )
    parts = line.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise AccountError(
            f"{source}: raden är ingen publik OpenSSH-nyckel av typerna "
            f"{', '.join(sorted(KEY_TYPES))}."
        )
    key_type, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded = blob[4 : 4 + length].decode("ascii")
    except (ValueError, struct.error, UnicodeDecodeError):
        raise AccountError(f"{source}: nyckeln är skadad (ogiltig base64).") from None
    if embedded != key_type:
        raise AccountError(f"{source}: nyckeln säger sig vara {key_type} men är {embedded}.")
    if key_type == "ssh-rsa" and _rsa_bits(blob) < MIN_RSA_BITS:
        raise AccountError(
            f"{source}: RSA-nyckeln är kortare än {MIN_RSA_BITS} bitar; be om en ed25519-nyckel."
        )
    return f"{key_type} {data}"


def known_codes(reference: Path = REFERENCE) -> set[str] | None:
    """Kommun and stadsdel codes of the reference seeds; None when they are not at hand."""
    codes: set[str] = set()
    for name, column in (("kommuner.csv", "kommun_kod"), ("stadsdelar.csv", "stadsdel_kod")):
        path = reference / name
        if not path.exists():
            return None
        with path.open(encoding="utf-8", newline="") as handle:
            codes |= {row[column] for row in csv.DictReader(handle)}
    return codes


def download_folder(code: str) -> dict:
    """The SFTPGo folder of an account's feedback (the pipeline's `<download>/<code>/`)."""
    return {
        "name": f"aterkoppling-{code}",
        "mapped_path": f"{DOWNLOAD}/{code}",
        "filesystem": {"provider": 0},  # the local filesystem
    }


def account(code: str, public_keys: list[str]) -> dict:
    """One SFTPGo user: confined to its own inbox folder, upload only, with its own download
    folder of feedback inside it."""
    return {
        "username": code,
        "status": 1,
        "description": f"SU-Kvinnofrid: inleverans och återkoppling för {code}",
        "home_dir": f"{INBOX}/{code}",
        "public_keys": public_keys,
        "virtual_folders": [
            {
                "name": download_folder(code)["name"],
                "virtual_path": DOWNLOAD_FOLDER,
                "quota_size": 0,
                "quota_files": 0,
            }
        ],
        "permissions": {"/": list(PERMISSIONS), DOWNLOAD_FOLDER: list(DOWNLOAD_PERMISSIONS)},
        "filters": {
            "denied_protocols": ["FTP", "DAV", "HTTP"],
            "denied_login_methods": ["password", "keyboard-interactive"],
            "file_patterns": [{"path": "/", "denied_patterns": [".*"]}],
            "max_upload_file_size": MAX_UPLOAD_BYTES,
        },
    }


def build_accounts(keys_dir: Path, reference: Path = REFERENCE) -> dict:
    """The SFTPGo data file for every `<code>.pub` in keys_dir; AccountError lists every problem."""
    codes = known_codes(reference)
    users, problems = [], []
    holders: dict[str, str] = {}  # key -> the first code that has it
    for path in sorted(keys_dir.glob("*.pub"), key=lambda p: p.stem):
        code = path.stem
        if not CODE.match(code):
            problems.append(
                f"{path.name}: filnamnet ska vara koden, t.ex. 0180.pub eller 0180-RKI.pub."
            )
            continue
        if codes is not None and code not in codes:
            problems.append(f"{path.name}: {code} finns inte bland kommunerna och stadsdelarna.")
            continue
        keys = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                try:
                    key = parse_public_key(line.strip(), f"{path.name} rad {number}")
                except AccountError as error:
                    problems.append(str(error))
                    continue
                holder = holders.setdefault(key, code)
                # A kommun may use one key for its stadsdelar; two kommuner sharing a key would
                # each reach the other's folder (usually a key pasted into the wrong file).
                if holder[:4] != code[:4]:
                    problems.append(
                        f"{path.name} rad {number}: samma nyckel som {holder}.pub; "
                        "en nyckel får bara höra till en kommun."
                    )
                keys.append(key)
        if not keys:
            problems.append(f"{path.name}: ingen publik nyckel.")
        users.append(account(code, keys))
    if problems:
        raise AccountError("\n".join(problems))
    if not users:
        raise AccountError(f"{keys_dir}: inga nyckelfiler (<kod>.pub).")
    return {
        "version": 17,
        "folders": [download_folder(user["username"]) for user in users],
        "users": users,
    }


def write_accounts(data: dict, accounts_dir: Path) -> Path:
    """Replace ACCOUNTS_DIR/konton.json atomically: SFTPGo never reads a half-written file."""
    target = accounts_dir / ACCOUNTS_FILE
    fd, temporary = tempfile.mkstemp(dir=accounts_dir, prefix=".konton-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
    return target


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all(Path(arg).is_dir() for arg in argv):
        print("Användning: python3 infra/sftp/accounts.py NYCKELMAPP KONTOMAPP", file=sys.stderr)
        return 2
    try:
        data = build_accounts(Path(argv[0]))
    except AccountError as error:
        print(f"Kontofilen skrevs inte:\n{error}", file=sys.stderr)
        return 1
    target = write_accounts(data, Path(argv[1]))
    print(
        f"{len(data['users'])} konton skrivna till {target}. Ladda om dem med "
        "`docker compose kill -s HUP sftp`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
