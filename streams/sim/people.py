"""Synthetic people: names, 18-digit ID numbers with a valid GB 11643 check character, mobiles.

Nothing here is a real person: names are drawn from common surnames and given-name characters, ID
numbers use the district's area code and a random birth date and sequence, and mobiles a random
number after a real carrier prefix. Ingest pseudonymises and masks them like any input.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from streams.ingest.identity import id_check_char

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强海燕玉兰文斌建华红梅晓东丹丹鹏飞婷婷"
MOBILE_PREFIXES = ("134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159",
                   "182", "183", "187", "188", "130", "131", "132", "155", "156", "185", "186",
                   "133", "153", "180", "181", "189", "177", "199")  # fmt: skip
AREA_CODE = "330106"


@dataclass
class Person:
    """A synthetic person and what the simulator knows about them."""

    id_number: str
    phone: str
    name: str
    age: int
    resident_type: str
    relatives: list[Person] = field(default_factory=list)

    @property
    def key(self) -> str:
        """A stable handle for the simulator (never written out)."""
        return self.id_number


def id_number(rng: random.Random, birth: date, area_code: str = AREA_CODE) -> str:
    """An 18-character resident ID number for `birth`, with its GB 11643 check character."""
    sequence = rng.randrange(1, 1000)
    first17 = f"{area_code}{birth:%Y%m%d}{sequence:03d}"
    return first17 + id_check_char(first17)


def mobile(rng: random.Random) -> str:
    """An 11-digit mainland mobile number."""
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def name(rng: random.Random) -> str:
    """A two- or three-character Chinese name (now and then a compound surname)."""
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.02 else rng.choice(SURNAMES)
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return surname + given


def age(rng: random.Random) -> int:
    """An age: fraud targets skew to the young (brushing, games) and the old (investment, health)."""
    band = rng.random()
    if band < 0.35:
        return rng.randint(18, 30)
    if band < 0.75:
        return rng.randint(31, 55)
    return rng.randint(56, 85)


def person(rng: random.Random, on: date) -> Person:
    """A new synthetic person, `age` years old on `on`."""
    years = age(rng)
    birth = on - timedelta(days=365 * years + rng.randrange(365))
    return Person(
        id_number=id_number(rng, birth),
        phone=mobile(rng),
        name=name(rng),
        age=years,
        resident_type="LOCAL" if rng.random() < 0.7 else "MIGRANT",
    )


def spaced_phone(rng: random.Random, phone: str) -> str:
    """The phone as upstream systems write it: plain, spaced, dashed or with +86."""
    style = rng.random()
    if style < 0.6:
        return phone
    if style < 0.8:
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    if style < 0.9:
        return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"
    return "+86 " + phone
