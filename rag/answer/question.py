"""Question typing: the answer type a question expects, from cue words per language.

Entry point: `detect_type(question) -> AnswerType`.

    >>> detect_type("科大讯飞新加坡办公室是哪天开业的？"), detect_type("Who founded Fotor?")
    (<AnswerType.WHEN: 'when'>, <AnswerType.WHO: 'who'>)

The cues are data (`CUES`): for each type, in the order they are tried, a regular expression per
language. The first type with a cue in the question decides, whatever the cue's language, since
questions mix them ("Talkie是哪家公司的？").
"""

from __future__ import annotations

import re
from enum import StrEnum


class AnswerType(StrEnum):
    WHEN = "when"
    HOW_MANY = "how_many"
    HOW_MUCH = "how_much"
    PERCENTAGE = "percentage"
    WHO = "who"
    WHICH_COMPANY = "which_company"
    WHERE = "where"
    WHAT_NAME = "what_name"
    YES_NO = "yes_no"
    LIST = "list"
    OTHER = "other"


# Checked in this order. Percentage and money come before "how many/much" because they are the
# narrower readings of the same words; lists before "which company", which they include.
CUES: dict[AnswerType, dict[str, str]] = {
    AnswerType.PERCENTAGE: {
        "en": r"percent|percentage|what share|what proportion|by how much did|"
        r"how much did .{0,60}\b(?:grow|increase|rise|fall|drop|decline|shrink)",
        "zh": r"比例|百分之|占比|百分比|几成|同比|"
        r"(?:提升|增长|增加|减少|下降|提高|上涨|涨|跌)了?多少",
    },
    AnswerType.LIST: {
        "en": r"\bwhich (?:two|three|four|five|several) |"
        r"\bwhich (?:[\w-]+ ){0,2}(?:companies|countries|clouds|providers|firms|vendors|apps|"
        r"products|models|markets|regions|cities|giants|makers|areas|fields|scenarios|"
        r"architectures|regulations|laws)\b|\bwhat (?:\w+ )?(?:are|were) the\b|"
        r"\bwhat (?:three|two|four|five) \w+|\bwhat architectures\b|\bname (?:the|all)\b|"
        r"\blist\b",
        "zh": r"哪些|哪几|分为哪|两大|三大|哪两|哪三",
    },
    AnswerType.WHICH_COMPANY: {
        "en": r"which (?:\w+[ -])?(?:company|firm|start-?up|vendor|provider|brand|maker)\b|"
        r"what company|(?:company|firm) is behind",
        "zh": r"哪家|哪个公司|哪一家|什么公司",
    },
    AnswerType.WHO: {
        "en": r"\bwho\b|\bwhom\b|whose|which person|which (?:\w+ ){0,4}(?:director|reporter|"
        r"executive|ceo|cto|founder|author|editor|analyst|engineer|president|partner)\b",
        "zh": r"谁|哪位|"
        r"(?:总裁|总经理|创始人|主任|编辑|记者|作者|董事|负责人|经理|教授|工程师|CEO|CTO)"
        r"(?:\w{0,4})(?:叫什么|是哪)",
    },
    AnswerType.WHEN: {
        "en": r"\bwhen\b|what (?:date|day|year|month|time)|which (?:date|day|year|month)|"
        r"in what year|on what date",
        "zh": r"什么时候|哪一?天|何时|哪一?年|几月|什么时间|哪个月|日期",
    },
    AnswerType.WHERE: {
        "en": r"\bwhere\b|which (?:city|country|region|market|trade show|show|event)",
        "zh": r"哪里|哪儿|哪个(?:城市|国家|地区|市场)|哪座|在哪",
    },
    AnswerType.WHAT_NAME: {
        "en": r"what (?:is|was) (?:the )?name|called|what (?:is|was) the (?:[\w-]+ ){0,3}(?:model|"
        r"product|app|platform|service|project|report)\b|"
        r"what (?:\w+ )?(?:model|product|app|platform|"
        r"service|project|report)\b|which (?:\w+ )?(?:model|product|app|platform|service|"
        r"version|project|report)\b",
        "zh": r"叫什么|名叫|名称|型号|什么项目|哪个(?:模型|产品|平台|应用|版本)|哪一个|哪款|是哪个",
    },
    AnswerType.HOW_MUCH: {
        "en": r"how much (?:money|did|does|is|was|will|do)|what (?:valuation|price|amount)|"
        r"how much .*(?:invest|cost|worth|valu|raise|fund|spend|pay|charge|revenue|loss)|"
        r"(?:'s|the) valuation\b|\bvalued at\b|"
        r"what (?:is|was|were|are) .{0,50}\b(?:revenue|price|cost|profit|loss|sales|income)\b",
        "zh": r"多少钱|金额|估值|订阅费|费用|花费|多少资金|融资(?:额|了多少)|亏损|支出|"
        # what is priced or earned, asked how much: "收入差距" alone asks no amount
        r"(?:售价|价格|定价|营收|收入|销售额|市值|利润(?!率))(?:是|为|达到?|有|约)?(?:多少|几何)|"
        r"(?:投资|投入)(?:总额|额)?(?:是|为|达|了)?多少|多少(?:美元|元|日元|欧元|港元)",
    },
    AnswerType.HOW_MANY: {
        "en": r"how many|number of|how much|how old",
        "zh": r"多少|多大|几[个家款轮台人次名位倍种项部]|几|排第",
    },
    AnswerType.YES_NO: {
        "en": r"(?:^|, )(?:is|are|can|does|do|did|will|has|have|could|was|were) ",
        "zh": r"是否|能否|吗[？?]?$",
    },
}
_COMPILED = [(kind, [re.compile(p) for p in cues.values()]) for kind, cues in CUES.items()]
# The word that opens an English question decides: in "how old was he when he played?" the
# "when" clause only says which time the age is about, so it is cut off before the cues are read.
_LATER_WHEN = re.compile(r"^((?:how|what|which|who|whom|whose|where)\b.*?)\s+when\s.*$")


def detect_type(question: str) -> AnswerType:
    """The answer type a question expects (OTHER when no cue matches)."""
    q = _LATER_WHEN.sub(r"\1", question.strip().lower())
    for kind, patterns in _COMPILED:
        if any(p.search(q) for p in patterns):
            return kind
    return AnswerType.OTHER


# A question for the year alone: a full date answers it with more than was asked
# ("1988年3月11日" for "哪一年成立的?", where the gold and the user want "1988年").
_YEAR_ASKED = re.compile(r"哪一?年(?!级|龄)|什么年份|哪个年份|\b(?:what|which) years?\b")


def asks_year(question: str) -> bool:
    """Whether a date question asks for the year alone."""
    return _YEAR_ASKED.search(question.lower()) is not None
