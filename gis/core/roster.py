"""Staff roles and the roster columns; phone masking."""

from __future__ import annotations

import re

ROLES = ("网格长", "专职网格员", "微网格长", "专属网格负责人")
STAFF_COLUMNS = ("grid_code", "role", "name", "phone")
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def mask_phone(phone: str | None) -> str:
    """``13812345678`` → ``138****5678``; landlines keep area code and last four."""
    if not phone:
        return ""
    digits = str(phone)
    if "-" in digits:  # landline: the area code is public, the number is not
        area, number = digits.split("-", 1)
        return f"{area}-{'*' * max(len(number) - 4, 0)}{number[-4:]}"
    if len(digits) <= 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"
