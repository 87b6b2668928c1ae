"""Self-relative security descriptors (MS-DTYP 2.4.6) rendered as SDDL (MS-DTYP 2.5.1).

Directory writes carry nTSecurityDescriptor as binary (LDAP) where Windows events log SDDL;
rendering the binary form the same way lets detectors read both alike. Only what detection
needs is rendered: owner, group and the DACL's ACEs (type, flags, access mask in hex, object
and inherited-object GUIDs, trustee SID). A descriptor cut short (a truncated log value) yields
the ACEs that fit.
"""

from __future__ import annotations

import struct
import uuid

SE_DACL_PRESENT = 0x0004
ACE_TYPES = {0x00: "A", 0x01: "D", 0x02: "AU", 0x05: "OA", 0x06: "OD", 0x07: "OU",
             0x09: "XA", 0x0A: "XD", 0x11: "ML"}
OBJECT_ACES = {0x05, 0x06, 0x07}
ACE_FLAGS = ((0x01, "OI"), (0x02, "CI"), (0x04, "NP"), (0x08, "IO"), (0x10, "ID"),
             (0x40, "SA"), (0x80, "FA"))
ACE_OBJECT_TYPE_PRESENT, ACE_INHERITED_OBJECT_TYPE_PRESENT = 0x1, 0x2
MAX_ACES = 1024


def sid_at(raw: bytes, at: int) -> tuple[str | None, int]:
    """The SID (MS-DTYP 2.4.2.2) at ``at`` as ``S-1-...`` and its length; (None, 0) if cut."""
    if at + 8 > len(raw):
        return None, 0
    n = raw[at + 1]
    size = 8 + 4 * n
    if at + size > len(raw) or raw[at] != 1:
        return None, 0
    auth = int.from_bytes(raw[at + 2 : at + 8], "big")
    subs = struct.unpack_from(f"<{n}I", raw, at + 8)
    return "-".join(["S", "1", str(auth), *map(str, subs)]), size


def _ace(raw: bytes, at: int, end: int) -> str | None:
    typ, flags, _size = raw[at], raw[at + 1], struct.unpack_from("<H", raw, at + 2)[0]
    (mask,) = struct.unpack_from("<I", raw, at + 4)
    o = at + 8
    obj = inh = ""
    if typ in OBJECT_ACES:
        if o + 4 > end:
            return None
        (oflags,) = struct.unpack_from("<I", raw, o)
        o += 4
        if oflags & ACE_OBJECT_TYPE_PRESENT:
            if o + 16 > end:
                return None
            obj = str(uuid.UUID(bytes_le=bytes(raw[o : o + 16])))
            o += 16
        if oflags & ACE_INHERITED_OBJECT_TYPE_PRESENT:
            if o + 16 > end:
                return None
            inh = str(uuid.UUID(bytes_le=bytes(raw[o : o + 16])))
            o += 16
    sid, _n = sid_at(raw[:end], o)
    if sid is None:
        return None
    flag_text = "".join(name for bit, name in ACE_FLAGS if flags & bit)
    kind = ACE_TYPES.get(typ, f"0x{typ:02x}")
    return f"{kind};{flag_text};0x{mask:x};{obj};{inh};{sid}"


def to_sddl(raw: bytes) -> str:
    """SDDL of a self-relative security descriptor: ``O:..G:..D:(ace)(ace)...``; parts that
    are missing or cut short are left out ("" when nothing parses)."""
    if len(raw) < 20 or raw[0] != 1:
        return ""
    (control,) = struct.unpack_from("<H", raw, 2)
    owner, group, _sacl, dacl = struct.unpack_from("<IIII", raw, 4)
    out = []
    for tag, off in (("O", owner), ("G", group)):
        if off:
            sid, _ = sid_at(raw, off)
            if sid:
                out.append(f"{tag}:{sid}")
    if control & SE_DACL_PRESENT and dacl and dacl + 8 <= len(raw):
        acl_size, count = struct.unpack_from("<HH", raw, dacl + 2)
        end = min(len(raw), dacl + acl_size)
        at = dacl + 8
        aces = []
        for _ in range(min(count, MAX_ACES)):
            if at + 8 > end:
                break
            size = struct.unpack_from("<H", raw, at + 2)[0]
            if size < 8 or at + size > end:
                break
            text = _ace(raw, at, at + size)
            if text is not None:
                aces.append(f"({text})")
            at += size
        out.append("D:" + "".join(aces))
    return "".join(out)
