"""The flow drawn as a graph: its structure checked as it is drawn, and the calls counted on its arrows."""

import re

import pytest

from campaigns.models import Campaign
from skillbases.graph import FlowCounts, flow_graph, shape_of
from tests.support.calls import conversation, ended_call

ARROW = re.compile(r'class="flow-arrow" data-from="([^"]+)" data-to="([^"]+)" data-calls="([^"]*)"')


def _arrows(svg: str) -> dict[tuple[str, str], str]:
    return {(a, b): calls for a, b, calls in ARROW.findall(svg)}


def test_every_step_and_transition_is_drawn(minimal_config):
    svg = str(flow_graph(minimal_config["flow"]))
    assert re.findall(r'data-step="([^"]+)"', svg) == ["greeting", "confirmed", "declined"]
    assert _arrows(svg) == {("greeting", "confirmed"): "", ("greeting", "declined"): ""}
    assert ">yes<" in svg and ">no<" in svg
    assert "problem" not in svg
    # End steps are coloured by their outcome: success green, refusal red.
    assert re.search(r'data-step="confirmed".*?fill="#2e7d32"', svg) and re.search(r'data-step="declined".*?fill="#e53935"', svg)


def test_a_broken_flow_is_drawn_with_what_is_wrong(minimal_config):
    flow = minimal_config["flow"]
    flow["steps"][0]["transitions"].append({"intent": "maybe", "goto": "nowhere"})
    flow["steps"].append({"id": "orphan", "say": "Nobody comes here.", "end": True, "outcome": "success"})
    flow["steps"].append({"id": "loop", "say": "Round and round.", "transitions": [{"intent": "yes", "goto": "loop"}]})
    flow["steps"][0]["transitions"].append({"intent": "repeat", "goto": "loop"})
    shape = shape_of(flow)
    assert shape.unreachable == {"orphan"} and shape.dead_ends == {"loop"} and shape.missing == {"nowhere"}
    svg = str(flow_graph(flow))
    assert re.search(r'class="flow-step end problem" data-step="orphan"', svg) and "no call can reach it" in svg
    assert 'class="flow-step problem" data-step="loop"' in svg and "no end can be reached from it" in svg
    assert "goes to a missing step: nowhere" in svg and "Named but not a step: nowhere." in svg


def test_a_flow_without_steps_says_so():
    assert "no steps to draw" in str(flow_graph({"start": "x", "steps": []}))


def test_counts_say_how_many_calls_took_each_arrow():
    counts = FlowCounts()
    counts.add_call(["greeting", "confirmed"], ended_on_end_step=True)
    counts.add_call(["greeting", "confirmed"], ended_on_end_step=True)
    counts.add_call(["greeting", "declined"], ended_on_end_step=True)
    counts.add_call(["greeting"], ended_on_end_step=False)  # hung up on the greeting
    counts.add_call([], ended_on_end_step=False)  # never answered: not on the flow
    assert counts.calls == 4 and counts.lost == {"greeting": 1}
    assert counts.reached == {"greeting": 4, "confirmed": 2, "declined": 1}
    assert counts.arrows == {("greeting", "confirmed"): 2, ("greeting", "declined"): 1}


@pytest.fixture
def campaign(org, skillbase):
    return Campaign.objects.create(organization=org, name="Reminders", skillbase=skillbase)


def _calls(campaign):
    talk = [("assistant", "Hello"), ("user", "yes")]
    for _ in range(3):
        ended_call(campaign, events=conversation(*talk, steps=("greeting", "confirmed")), last_step="confirmed")
    ended_call(campaign, outcome="refusal", events=conversation(*talk, steps=("greeting", "declined")), last_step="declined")
    ended_call(campaign, outcome="failed", events=conversation(("assistant", "Hello"), steps=("greeting",)), last_step="greeting")
    ended_call(campaign, outcome="no_answer", talk_seconds=None)


def test_the_flow_page_draws_a_campaigns_calls_on_its_arrows(client, viewer, campaign, django_assert_max_num_queries):
    _calls(campaign)
    client.force_login(viewer)
    with django_assert_max_num_queries(12):
        response = client.get(f"/admin/analytics/flow/?campaign={campaign.pk}")
    assert response.status_code == 200
    svg = response.content.decode()
    assert _arrows(svg) == {("greeting", "confirmed"): "3", ("greeting", "declined"): "1"}
    assert "5 calls · 1 lost" in svg and "5 calls drawn; 1 lost before an end step." in svg
    version = campaign.skillbase.current_version
    assert client.get(f"/admin/analytics/flow/?version={version.pk}").status_code == 200


def test_the_flow_page_is_scoped_to_the_users_organizations(client, outsider, campaign):
    _calls(campaign)
    client.force_login(outsider)
    assert client.get(f"/admin/analytics/flow/?campaign={campaign.pk}").status_code == 404
    assert client.get(f"/admin/analytics/flow/?version={campaign.skillbase.current_version.pk}").status_code == 404
    assert client.get("/admin/analytics/flow/?campaign=abc").status_code == 404
    assert client.get("/admin/analytics/flow/").status_code == 404
