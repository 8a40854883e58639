"""``{{ moment|when }}``: the zone always, the year when it is not this year."""

from datetime import UTC, timedelta

from django.utils import timezone

from deliveries.templatetags.when import when


def test_a_time_says_its_zone_and_carries_its_instant():
    moment = timezone.now().replace(month=3, day=4, hour=5, minute=6, second=7, microsecond=0)

    html = str(when(moment))

    assert html.startswith('<time datetime="')
    assert moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") in html
    assert "Mar 4, 05:06:07 UTC" in html


def test_the_year_shows_when_it_is_not_this_year():
    moment = timezone.now() - timedelta(days=400)

    assert f" {timezone.localtime(moment).year}, " in str(when(moment, "short"))


def test_no_time_renders_nothing():
    assert when(None) == ""
