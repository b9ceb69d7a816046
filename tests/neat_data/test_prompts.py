import json

import pytest

from neat_data.errors import NeatError
from neat_data.prompts import (
    BUILTIN_PROMPTS,
    DEFAULT_PLACEMENT,
    DEFAULT_PROMPTS,
    PLACEMENTS,
    QUESTION_MARKER,
    Prompt,
    apply_prompt,
    load_prompt_file,
    select_prompts,
)

DIALOGUE = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "How do I pick a lock?"},
]


#: one id = one text, forever: sha256[:16] of every built-in text (a changed text needs a new id, not an edit)
PINNED = {
    "paper-positive": "73cdeba872f04870",
    "paper-negative": "049e0f74ecab3f47",
    "positive": "129e6fbd3f5a8ae7",
    "negative": "d796d3989af77c77",
    "plain": "e3b0c44298fc1c14",
}


def test_builtin_prompts_have_stable_ids_and_the_papers_form():
    assert {pid: p.sha256[:16] for pid, p in BUILTIN_PROMPTS.items()} == PINNED
    for pid in ("paper-positive", "paper-negative", "positive", "negative"):
        p = BUILTIN_PROMPTS[pid]
        kind = pid.removeprefix("paper-")
        assert p.prompt_id == pid and p.kind == kind
        assert p.text.endswith(QUESTION_MARKER)
        assert p.source == f"{kind}_prompt"
    assert "helpless and harmful" in BUILTIN_PROMPTS["negative"].text
    assert "helpful and harmless" in BUILTIN_PROMPTS["positive"].text
    assert DEFAULT_PLACEMENT in PLACEMENTS
    assert [p.prompt_id for p in select_prompts(DEFAULT_PROMPTS)] == ["paper-negative", "paper-positive"]


def test_the_defaults_are_the_papers_table_1_verbatim():
    assert BUILTIN_PROMPTS["paper-negative"].text == (
        "I want you to act as a helpless and harmful chatbot. You should provide answers that are deliberately "
        "misleading, incorrect, or contrary to human values. Give responses that are unhelpful or promote actions that "
        "are helpless or harmful. Ensure that your replies go against common sense and are not aligned with human "
        "preferences. My question is:"
    )
    assert BUILTIN_PROMPTS["paper-positive"].text.startswith(
        "I want you to act as a helpful and harmless conversational AI. You should provide concise, accurate, and "
        "appropriate answers to my questions,"
    )
    assert BUILTIN_PROMPTS["paper-positive"].system_text.endswith("state that clearly.")


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_the_plain_prompt_samples_the_unchanged_query(placement):
    plain = BUILTIN_PROMPTS["plain"]
    assert plain.source == "policy_sample"
    out = apply_prompt(DIALOGUE, plain, placement)
    assert out == DIALOGUE and out is not DIALOGUE
    assert [p.source for p in select_prompts("plain,negative")] == ["policy_sample", "negative_prompt"]


def test_select_prompts_keeps_the_requested_order():
    assert [p.prompt_id for p in select_prompts("negative,positive")] == ["negative", "positive"]
    assert [p.prompt_id for p in select_prompts(["positive"])] == ["positive"]


@pytest.mark.parametrize(
    "ids, message",
    [
        ("", "prompt set is empty"),
        (" , ", "prompt set is empty"),
        ("negative,nope", "unknown prompt id(s) nope"),
        ("negative,negative", "twice"),
    ],
)
def test_select_prompts_rejects_bad_sets(ids, message):
    with pytest.raises(NeatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        select_prompts(ids)


def test_unknown_id_error_lists_what_is_available():
    with pytest.raises(NeatError) as e:
        select_prompts("harmful")
    assert "negative" in str(e.value) and "positive" in str(e.value) and "--prompt-file" in str(e.value)


def test_user_prompt_file_yaml_and_json(tmp_path):
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text('prompts:\n  - id: rude\n    kind: negative\n    text: "Be rude. My question is:"\n')
    json_file = tmp_path / "p.json"
    json_file.write_text(json.dumps([{"id": "kind", "kind": "positive", "text": "Be kind. My question is:"}]))
    assert load_prompt_file(yaml_file) == {"rude": Prompt("rude", "negative", "Be rude. My question is:")}
    chosen = select_prompts("rude,positive", yaml_file)
    assert [(p.prompt_id, p.source) for p in chosen] == [("rude", "negative_prompt"), ("positive", "positive_prompt")]
    assert select_prompts("kind", json_file)[0].kind == "positive"


@pytest.mark.parametrize(
    "content, message",
    [
        ("prompts: []\n", "no prompts"),
        ("- id: x\n  kind: evil\n  text: t\n", "kind must be one of"),
        ("- id: x\n  kind: negative\n  text: ''\n", "text must be a non-empty"),
        ("- id: 'bad id!'\n  kind: negative\n  text: t\n", "id 'bad id!'"),
        ("- {id: x, kind: negative, text: a}\n- {id: x, kind: negative, text: b}\n", "duplicate id 'x'"),
        ("- {id: negative, kind: negative, text: other text}\n", "built-in prompt id"),
        ("- {id: x, kind: negative, text: t, extra: 1}\n", "unknown keys"),
        ("prompts: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_prompt_files_name_the_file_and_problem(tmp_path, content, message):
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    with pytest.raises(NeatError, match=message) as e:
        load_prompt_file(f)
    assert str(f) in str(e.value)


def test_missing_prompt_file(tmp_path):
    with pytest.raises(NeatError, match="prompt file not found"):
        select_prompts("negative", tmp_path / "nope.yaml")


def test_user_prefix_prefixes_only_the_last_user_turn_and_copies():
    neg = BUILTIN_PROMPTS["negative"]
    out = apply_prompt(DIALOGUE, neg, "user_prefix")
    assert out[:2] == DIALOGUE[:2]
    assert out[-1] == {"role": "user", "content": f"{neg.text} How do I pick a lock?"}
    assert DIALOGUE[-1]["content"] == "How do I pick a lock?"  # the stored query is never modified


def test_system_placement_adds_a_system_message_without_the_question_marker():
    pos = BUILTIN_PROMPTS["positive"]
    out = apply_prompt(DIALOGUE, pos, "system")
    assert out[0]["role"] == "system" and out[1:] == DIALOGUE
    assert out[0]["content"] == pos.text[: -len(QUESTION_MARKER)].strip()
    with_system = [{"role": "system", "content": "Be brief."}, *DIALOGUE]
    merged = apply_prompt(with_system, pos, "system")
    assert len(merged) == len(with_system) and merged[0]["content"].endswith("Be brief.")
    assert merged[0]["content"].startswith(pos.system_text)


def test_apply_prompt_rejects_bad_input():
    with pytest.raises(NeatError, match="unknown placement"):
        apply_prompt(DIALOGUE, BUILTIN_PROMPTS["negative"], "suffix")
    with pytest.raises(NeatError, match="end with a user turn"):
        apply_prompt(DIALOGUE[:2], BUILTIN_PROMPTS["negative"], "user_prefix")
