"""The enum vocabularies ingest accepts, and how input spellings map to the contract's symbols.

Each table maps an accepted spelling, upper-cased, to the canonical symbol. Every symbol is accepted in any
case, and so are a few Chinese terms that upstream systems use. `UNKNOWN` is a schema-evolution default,
not an input value, so required fields do not accept it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def _table(symbols: Iterable[str], aliases: Mapping[str, str] | None = None) -> Mapping[str, str]:
    table = {symbol: symbol for symbol in symbols}
    table.update(aliases or {})
    return table


SOURCES = _table(
    ("MPS_FUND", "JZZ", "NAC_APP", "HOTLINE_96110", "BANK", "TELECOM", "CALL_110", "MANUAL"),
    {"96110": "HOTLINE_96110", "110": "CALL_110", "金钟罩": "JZZ", "资金预警": "MPS_FUND"},
)
LEVELS = _table(
    ("CRITICAL", "HIGH", "MEDIUM", "LOW"),
    {"紧急": "CRITICAL", "特高危": "CRITICAL", "高": "HIGH", "高危": "HIGH", "中": "MEDIUM", "低": "LOW"},
)
FRAUD_TYPES = _table(
    (
        "ORDER_BRUSHING",
        "FAKE_INVESTMENT",
        "FAKE_SHOPPING",
        "FAKE_CUSTOMER_SERVICE",
        "FAKE_LOAN",
        "FAKE_CREDIT_REPAIR",
        "IMPERSONATE_ACQUAINTANCE",
        "IMPERSONATE_AUTHORITY",
        "ROMANCE",
        "GAME_TRADING",
        "MILITARY_PROCUREMENT",
        "OTHER",
    ),
    {
        "刷单返利": "ORDER_BRUSHING",
        "虚假网络投资理财": "FAKE_INVESTMENT",
        "虚假购物服务": "FAKE_SHOPPING",
        "冒充电商物流客服": "FAKE_CUSTOMER_SERVICE",
        "虚假贷款": "FAKE_LOAN",
        "虚假征信": "FAKE_CREDIT_REPAIR",
        "冒充领导熟人": "IMPERSONATE_ACQUAINTANCE",
        "冒充公检法及政府机关": "IMPERSONATE_AUTHORITY",
        "网络婚恋交友": "ROMANCE",
        "网络游戏产品虚假交易": "GAME_TRADING",
        "冒充军警购物": "MILITARY_PROCUREMENT",
        "其他": "OTHER",
    },
)
RESIDENT_TYPES = _table(
    ("LOCAL", "MIGRANT", "UNKNOWN"), {"本地": "LOCAL", "户籍": "LOCAL", "流动": "MIGRANT"}
)
TASK_EVENT_TYPES = _table(
    (
        "RECEIVED",
        "DISPATCHED",
        "VERIFIED",
        "FEEDBACK",
        "REFEEDBACK_REQUESTED",
        "PROTECTIVE_MEASURE",
        "CLOSED",
        "VICTIMISED_AFTER_WARNING",
    ),
    {
        "签收": "RECEIVED",
        "派发": "DISPATCHED",
        "核查": "VERIFIED",
        "反馈": "FEEDBACK",
        "二次反馈": "REFEEDBACK_REQUESTED",
    },
)
VERIFY_METHODS = _table(
    ("PHONE", "FACE_TO_FACE"), {"电话": "PHONE", "见面": "FACE_TO_FACE", "当面": "FACE_TO_FACE"}
)
OUTCOMES = _table(
    ("DISSUADED", "ALREADY_DEFRAUDED", "NO_RISK", "UNREACHABLE", "REFUSED"),
    {
        "劝阻成功": "DISSUADED",
        "已被骗": "ALREADY_DEFRAUDED",
        "核实无风险": "NO_RISK",
        "联系不上": "UNREACHABLE",
        "拒不听劝": "REFUSED",
    },
)
MEASURES = _table(
    ("RESTRICT_PAYMENT", "RESTRICT_CALLS", "OTHER"),
    {"限制支付": "RESTRICT_PAYMENT", "限制呼叫": "RESTRICT_CALLS"},
)
ASSIGNEE_TYPES = _table(("OFFICER", "GRID_WORKER"), {"民警": "OFFICER", "网格员": "GRID_WORKER"})
