"""The flow builder's door: what its inputs make of a configuration, and back.

The admin page is read as a browser would submit it (every input, checked box, selected option and
textarea of the form), so these tests hold the template and the parser to each other: a skillbase
submitted through the builder unchanged is the same configuration, to the last default.
"""

import json
from html.parser import HTMLParser

import pytest

from skillbases.builder import build_sections
from skillbases.models import Skillbase
from skillbases.schemas import validate_config
from tests.conftest import DEMO


class _Form(HTMLParser):
    """The fields of the page's main form as a browser would post them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.data: list[tuple[str, str]] = []
        self._select: str | None = None
        self._selected: str | None = None
        self._first: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.append((a["name"], a.get("value", "on")))
            else:
                self.data.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select, self._selected, self._first = a["name"], None, None
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            self._first = value if self._first is None else self._first
            if "selected" in a:
                self._selected = value
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], []

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            self.data.append((self._select, self._selected if self._selected is not None else (self._first or "")))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.data.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)


def _posted(page: str, **changes) -> dict:
    form = _Form()
    form.feed(page[page.index('id="skillbase_form"') :])
    data: dict = {}
    for name, value in form.data:
        data.setdefault(name, []).append(value)
    data = {k: v if len(v) > 1 else v[0] for k, v in data.items()}
    data.update(changes)
    return data


def _builder_of(client, skillbase) -> tuple[str, dict]:
    """The change page's address and its form as posted unchanged."""
    url = f"/admin/skillbases/skillbase/{skillbase.pk}/change/"
    return url, _posted(client.get(url).content.decode())


def _step_key(data: dict, step_id: str) -> str:
    """``step-N`` of the builder row holding the step ``step_id``."""
    return next(k for k, v in data.items() if k.endswith("-id") and v == step_id).removesuffix("-id")


def _demo(name: str) -> dict:
    config = json.loads((DEMO / f"{name}.json").read_text(encoding="utf-8"))
    return {k: config[k] for k in ("context", "flow", "voice", "llm")}


@pytest.mark.parametrize("demo", ["salon_ru", "dental_en"])
def test_a_skillbase_submitted_through_the_builder_unchanged_stays_the_same(client, org, operator, demo):
    skillbase = Skillbase(organization=org, name="Demo", **_demo(demo))
    skillbase.save()
    before = skillbase.config_dict()
    client.force_login(operator)
    url = f"/admin/skillbases/skillbase/{skillbase.pk}/change/"
    page = client.get(url).content.decode()
    data = _posted(page)
    assert data["editor"] == "builder" and "flow-start" in data
    assert validate_config(build_sections(data).sections).model_dump(mode="json") == before
    response = client.post(url, {**data, "_continue": "1"})
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    skillbase.refresh_from_db()
    assert skillbase.config_dict() == before and skillbase.version == 1


def test_a_change_in_the_builder_is_one_new_version(client, org, operator, salon):
    client.force_login(operator)
    url, data = _builder_of(client, salon)
    greeting = _step_key(data, "greeting")
    data[f"{greeting}-say"] = "Здравствуйте, {name}! Это салон «Лилия». Хотим пригласить вас на {service}."
    data["ctx-facts"] += "\nПарковка во дворе бесплатная."
    response = client.post(url, {**data, "change_note": "короче приветствие", "_continue": "1"})
    assert response.status_code == 302
    salon.refresh_from_db()
    assert salon.version == 2 and salon.current_version.note == "короче приветствие"
    assert salon.flow["steps"][0]["say"].startswith("Здравствуйте, {name}! Это салон «Лилия».")
    assert salon.context["facts"][-1] == "Парковка во дворе бесплатная."


def test_a_problem_is_shown_beside_its_step_and_nothing_is_saved(client, org, operator, salon):
    client.force_login(operator)
    url, data = _builder_of(client, salon)
    offer = _step_key(data, "offer")
    data[f"{offer}-say"] = "Записать вас на {sevrice}?"
    data[f"{offer}-t-0-goto"] = "nowhere"
    response = client.post(url, data)
    assert response.status_code == 200
    page = response.content.decode()
    step = page[page.index(f'data-row="{offer.split("-")[1]}"') :]
    step = step[: step.index('class="builder-step', 10)]
    assert "Unknown variable &#x27;{sevrice}&#x27; (did you mean &#x27;{service}&#x27;?)" in step
    assert "There is no step &#x27;nowhere&#x27; to go to." in step
    salon.refresh_from_db()
    assert salon.version == 1
    # What was typed is shown back, not what is saved.
    assert "Записать вас на {sevrice}?" in step


def test_the_offline_engine_sends_no_model_and_a_model_needs_one(client, org, operator, salon):
    client.force_login(operator)
    url = f"/admin/skillbases/skillbase/{salon.pk}/change/"
    data = _posted(client.get(url).content.decode(), **{"llm-model": "gpt-4o", "llm-api_key_env": "NV_LLM_KEY"})
    assert build_sections(data).sections["llm"] == {"provider": "flow"}
    data["llm-provider"] = "openai"
    data["llm-model"] = ""
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["llm"] == ["llm.model: Provider 'openai' needs a 'model', e.g. 'gpt-4o-mini'."]


def test_the_json_editor_is_still_there_with_where_its_json_breaks(client, org, operator, salon):
    client.force_login(operator)
    url = f"/admin/skillbases/skillbase/{salon.pk}/change/"
    data = _posted(client.get(url).content.decode(), editor="json")
    data["flow"] = data["flow"].replace('"start"', "start", 1)
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Not valid JSON at line 2, column 3: Expecting property name enclosed in double quotes." in response.content.decode()


def test_a_viewer_sees_the_graph_and_no_builder(client, viewer, salon, django_assert_max_num_queries):
    client.force_login(viewer)
    with django_assert_max_num_queries(25):
        page = client.get(f"/admin/skillbases/skillbase/{salon.pk}/change/").content.decode()
    assert 'id="flow-graph"' in page and 'id="flow-builder"' not in page
