"""Numbers, limits and counts read the same everywhere."""

from django.template import Context, Template

from core.formatting import limit, number, plural


def test_numbers_limits_and_plurals():
    assert number(10_000_000) == "10,000,000" and number(None) == "—"
    assert limit(10_000_000, "month") == "10,000,000 / month"
    assert limit(60, "minute") == "60 / min" and limit(5, "s") == "5 / s"
    assert limit(None, "min") == "unlimited"
    assert plural(1, "request") == "1 request" and plural(2, "request") == "2 requests"
    assert plural(0, "entry", "entries") == "0 entries" and plural(1_000, "key") == "1,000 keys"


def test_filters_need_no_load_tag():
    text = Template('{{ a|limit:"month" }}|{{ b|limit:"min" }}|{{ c|number }}|{{ n|plural:"request" }}').render(
        Context({"a": 10_000_000, "b": None, "c": 1234, "n": 3})
    )
    assert text == "10,000,000 / month|unlimited|1,234|3 requests"


def test_prices_read_as_entered_without_trailing_zeros_or_exponent():
    from decimal import Decimal

    from core.formatting import decimal

    assert decimal(Decimal("0.500000")) == "0.5"
    assert decimal(Decimal("10.000000")) == "10"
    assert decimal(Decimal("0.075000")) == "0.075"
    assert decimal(Decimal("0.00000615")) == "0.00000615"
    assert decimal(None) == "—"


def test_a_plan_names_its_ai_limits_in_words():
    from decimal import Decimal

    from apis.models import Plan

    plan = Plan(token_quota_per_day=100_000, cost_budget_per_month=Decimal("5.0000"))
    assert plan.ai_limits == ["100,000 tokens / day", "$5 / month"]
    assert Plan().ai_limits == []
