"""Reading generated lists leniently (what a 135M model writes: preambles, bold, repeats, a line
cut at max_tokens, restarted numbering) and proposing a verifier for a hard rule only when sure."""

from __future__ import annotations

import pytest

from judge.plugins import get_registry
from judge.verifiers import VerifierSpec, bind
from judge_standard.generators.proposals import propose_verifier
from judge.rubric_merge import near_duplicates
from judge_standard.generators.reading import ReadCriterion, read_criteria, read_principles


def texts(answer: str) -> list[str]:
    return [c.text for c in read_criteria(answer)]


def test_a_clean_numbered_list_with_tags_and_weights():
    answer = (
        "1. [hard_rule] The answer is under 50 words. (weight: 3)\n"
        "2. [principle] The answer names the capital correctly. (Weight: 30%)\n"
        "3) (hard rule) The answer is written in French. weight 2\n"
        "4. Hard rule: The answer uses a code block. [4]\n"
        "5. The answer explains its reasoning briefly.\n"
    )
    assert read_criteria(answer) == [
        ReadCriterion("The answer is under 50 words.", "hard_rule", 3.0),
        ReadCriterion("The answer names the capital correctly.", "principle", 30.0),
        ReadCriterion("The answer is written in French.", "hard_rule", 2.0),
        ReadCriterion("The answer uses a code block.", "hard_rule", 4.0),
        ReadCriterion("The answer explains its reasoning briefly.", "principle", None),
    ]


def test_bullets_markdown_and_principle_numbering():
    answer = (
        "Sure! Here are the principles for this request:\n\n"
        "**Principle 1:** The response *clearly* states the final answer. (weight: 2)\n"
        "- **Accuracy**: every fact in the response is correct\n"
        "* The response stays under __two__ paragraphs\n"
        "• The tone is friendly and respectful [1]\n"
        "I hope these help!"
    )
    assert texts(answer) == [
        "The response clearly states the final answer.",
        "Accuracy: every fact in the response is correct",
        "The response stays under two paragraphs",
        "The tone is friendly and respectful",
    ]


def test_a_small_model_repeating_itself_and_restarting_the_numbering():
    line = "1. The answer is polite and helpful. (weight: 1)\n2. The answer gives the correct date. (weight: 2)\n"
    answer = line + "\n" + line + "1. the answer is polite  and helpful\n3. Uses simple words the user knows.\n"
    assert texts(answer) == ["The answer is polite and helpful.", "The answer gives the correct date.", "Uses simple words the user knows."]


@pytest.mark.parametrize("cut", [
    "3. The answer explains the",  # ends on a word that cannot end a sentence
    "3. The answer explains each step (weight:",  # an open bracket
    "3. The answer gives an example,",
])
def test_a_last_line_cut_at_max_tokens_is_dropped(cut):
    answer = "1. The answer is correct and complete.\n2. The answer shows its working steps.\n" + cut
    assert texts(answer) == ["The answer is correct and complete.", "The answer shows its working steps."]


def test_a_complete_last_line_without_a_newline_is_kept():
    assert texts("1. The answer is correct and complete.\n2. The answer shows its working") == [
        "The answer is correct and complete.", "The answer shows its working"]


def test_too_short_too_long_placeholders_and_more_than_ten():
    answer = "\n".join([
        "1. Accuracy", "2. Be nice", "3. " + "word " * 80, "4. The answer <does something specific to this request>. (weight: 3)",
        *(f"{i}. The answer covers point number {i} well." for i in range(5, 20)),
    ])
    read = texts(answer)
    assert read == [f"The answer covers point number {i} well." for i in range(5, 15)]


def test_a_bare_number_in_brackets_at_the_end_is_the_weight():
    # what the embedded model wrote for `--rubric auto` on "Name one planet."
    read = read_criteria("1. The answer is a planet. (1)\n2. The answer names a real planet of the solar system. (2)\n")
    assert [(r.text, r.weight) for r in read] == [("The answer is a planet.", 1.0),
                                                   ("The answer names a real planet of the solar system.", 2.0)]


def test_weights_are_clamped_and_zero_is_no_weight():
    read = read_criteria("1. The answer is very short. (weight: 500)\n2. The answer is very clear. (weight: 0)\n")
    assert [r.weight for r in read] == [100.0, None]


def test_plain_lines_are_read_when_there_is_no_list():
    answer = "Principles:\nThe answer states the year of the event.\nThe answer cites a reliable source.\n"
    assert texts(answer) == ["The answer states the year of the event.", "The answer cites a reliable source."]


def test_prose_is_not_read_as_plain_lines():
    """What SmolLM2-135M wrote for a news prompt: the article again, not a rubric."""
    answer = (
        "The city council voted Tuesday to extend the bike lane by two miles. It cited a 30% rise in cyclists.\n\n"
        "The council met on Tuesday. They discussed roads, parks, and budgets.\n"
        "The city council finished on Tuesday with a decision to extend the bike lane.\n"
    )
    assert read_criteria(answer) == []


@pytest.mark.parametrize("answer", [
    "",
    "I am sorry, I cannot help with that.",  # one plain line: chatter, not a rubric
    "The capital of France is Paris. It has been the capital for centuries and is known for " * 5 + "\nOk\nYes",
    "1.\n2.\n- \n* ok",
])
def test_garbage_reads_as_nothing(answer):
    assert read_criteria(answer) == []


def test_read_principles_in_the_rlbff_format():
    answer = (
        "Here are the principles:\n"
        '- The response is concise | evidence: "the answer is nice and short"\n'
        "- **Cites sources** | Evidence: “it gives no sources at all”\n"
        "2. Uses correct units (evidence: 'units are right')\n"
        "- Gives working code\n"
        '- Explains the steps | evidence: "the steps are explain'
    )
    assert read_principles(answer) == [
        ("The response is concise", "the answer is nice and short"),
        ("Cites sources", "it gives no sources at all"),
        ("Uses correct units", "units are right"),
        ("Gives working code", ""),
        ("Explains the steps", "the steps are explain"),  # cut at max_tokens: still a verbatim prefix
    ]


def test_read_principles_drops_exact_repeats_and_chatter():
    answer = '- No factual errors | evidence: "no errors"\n- no factual  errors | evidence: "x y"\nThanks for reading!\n'
    assert read_principles(answer) == [("No factual errors", "no errors")]


def test_near_duplicates_ignore_case_punctuation_and_filler_words():
    assert near_duplicates("The response is concise.", "response is concise")
    assert not near_duplicates("Cites its sources", "Gives working code")


# --- proposals: hard rule text -> verifier --------------------------------------------------

PROPOSALS = [
    ("The response is under 50 words.", "words", {"max": 49}),
    ("Answer in fewer than twenty words", "words", {"max": 19}),
    ("Less than 5 sentences", "sentences", {"max": 4}),
    ("The answer has at most 3 sentences.", "sentences", {"max": 3}),
    ("No more than 100 words", "words", {"max": 100}),
    ("A maximum of two paragraphs", "paragraphs", {"max": 2}),
    ("Does not exceed 280 characters", "characters", {"max": 280}),
    ("At least 200 words", "words", {"min": 200}),
    ("Minimum 3 paragraphs", "paragraphs", {"min": 3}),
    ("Exactly three sentences", "sentences", {"min": 3, "max": 3}),
    ("Between 50 and 100 words", "words", {"min": 50, "max": 100}),
    ("At least 50 words and at most 1,000 words", "words", {"min": 50, "max": 1000}),
    ("Under 140 characters", "characters", {"max": 139}),
    ("Respond in valid JSON.", "json", {}),
    ("The output is in JSON format", "json", {}),
    ("Formatted as JSON", "json", {}),
    ("Start with 'Dear Sir'", "starts_with", {"text": "Dear Sir"}),
    ('Begin your answer with "Hello"', "starts_with", {"text": "Hello"}),
    ("Ends with “Is there anything else?”", "ends_with", {"text": "Is there anything else?"}),
    ("Include the words 'apple' and 'banana'", "contains", {"phrases": ["apple", "banana"]}),
    ("Mentions 'Paris'", "contains", {"phrases": ["Paris"]}),
    ("Contains the phrase \"in conclusion\"", "contains", {"phrases": ["in conclusion"]}),
    ("Do not use the word 'very'", "forbids", {"phrases": ["very"]}),
    ("Avoid 'basically' or 'literally'", "forbids", {"phrases": ["basically", "literally"]}),
    ("Must not contain 'TODO'", "forbids", {"phrases": ["TODO"]}),
    ("Respond in French", "language", {"language": "fr"}),
    ("The answer is written entirely in Spanish.", "language", {"language": "es"}),
    ("Write the reply in German to the user", "language", {"language": "de"}),
    ("Answer in Chinese.", "language", {"language": "zh-cn"}),
    ("Includes a code block", "code_block", {}),
    ("Uses fenced code", "code_block", {}),
    ("Includes a Python code block", "code_block", {"language": "python"}),
]

NOT_SURE = [
    "A concise answer",
    "The person is under 50 years old",
    "Should not be under 50 words",  # negated
    "Do not respond in French",
    "Doesn't start with 'Sure'",
    "Start each paragraph with 'A'",  # not the whole response
    "Starts with a greeting",  # no quoted text
    "Explains the error in JSON parsing",
    "Answer in English and in under 50 words",  # two constraints: one verifier cannot check both
    "Answer the question in French grammar terms",
    "Written in under fifty words",  # number words stop at twenty
    "Under 1 word",
]


@pytest.mark.parametrize(("rule", "name", "args"), PROPOSALS)
def test_a_hard_rule_gets_the_verifier_that_checks_it(rule, name, args):
    spec = propose_verifier(rule)
    assert spec == VerifierSpec(name=name, args=args)
    bind(get_registry().load(), "c1", spec)  # the arguments fit the shipped verifier


@pytest.mark.parametrize("rule", NOT_SURE)
def test_no_verifier_when_unsure(rule):
    assert propose_verifier(rule) is None
