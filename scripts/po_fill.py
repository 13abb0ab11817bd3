"""Fill empty translations of a .po file from a JSON map, keeping everything else.

    python scripts/po_fill.py locale/es/LC_MESSAGES/django.po my-strings.json

The JSON maps an English msgid to its translation, or, for a plural entry, to a
list of forms (`["1 notificación", "%(count)d notificaciones", ...]`). Only entries
whose msgstr is empty, or only a `#, fuzzy` guess of msgmerge's, are filled
(someone else's translation is never replaced), and the fuzzy flag is dropped.
Used after `make messages` to re-apply one's strings (e.g. after taking main's
django.po in a rebase); prints the msgids of the map that the .po does not have.
"""

import json
import re
import sys
from pathlib import Path

_KEYWORD = re.compile(r"^(msgid|msgid_plural|msgstr(?:\[\d\])?|msgctxt) (\".*\")$")


def _unquote(lines: list[str]) -> str:
    return "".join(json.loads(line) for line in lines)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def fill(po_text: str, mapping: dict[str, object]) -> tuple[str, list[str]]:
    blocks = po_text.split("\n\n")
    used: set[str] = set()
    out = []
    for block in blocks:
        lines = block.split("\n")
        fields: dict[str, list[str]] = {}
        order: list[str] = []
        current = None
        comments = []
        for line in lines:
            match = _KEYWORD.match(line)
            if match:
                current = match.group(1)
                fields[current] = [match.group(2)]
                order.append(current)
            elif line.startswith('"') and current:
                fields[current].append(line)
            else:
                comments.append(line)
                current = None
        msgid = _unquote(fields["msgid"]) if "msgid" in fields else ""
        fuzzy = any(c.startswith("#,") and "fuzzy" in c for c in comments)
        if not msgid or msgid not in mapping or "msgctxt" in fields:
            out.append(block)
            continue
        value = mapping[msgid]
        used.add(msgid)
        if "msgid_plural" in fields:
            keys = sorted(k for k in fields if k.startswith("msgstr["))
            taken = any(_unquote(fields[k]) for k in keys) and not fuzzy
            if taken or not isinstance(value, list):
                out.append(block)
                continue
            forms = list(value) + [value[-1]] * (len(keys) - len(value))
            for key, form in zip(keys, forms, strict=False):
                fields[key] = [_quote(form)]
        else:
            if (_unquote(fields["msgstr"]) and not fuzzy) or not isinstance(value, str):
                out.append(block)
                continue
            fields["msgstr"] = [_quote(value)]
        comments = [
            re.sub(r",\s*fuzzy", "", c) if c.startswith("#,") else c for c in comments
        ]
        comments = [c for c in comments if c.strip() != "#,"]
        rebuilt = [c for c in comments if c]
        for key in order:
            rebuilt.append(f"{key} {fields[key][0]}")
            rebuilt.extend(fields[key][1:])
        out.append("\n".join(rebuilt))
    return "\n\n".join(out), sorted(set(mapping) - used)


def main() -> None:
    po_path, map_path = Path(sys.argv[1]), Path(sys.argv[2])
    text, missing = fill(po_path.read_text(), json.loads(map_path.read_text()))
    po_path.write_text(text)
    for msgid in missing:
        print(f"not in {po_path}: {msgid!r}")


if __name__ == "__main__":
    main()
