"""``data.errors.one_line``: the one wording of an error in one line, for every command."""

from colorize_core.data.errors import one_line


def test_type_and_message_on_one_line_shortened_to_the_width():
    error = ValueError("weights\n  do not fit:\t" + "x " * 200)
    line = one_line(error, 60)
    assert line.startswith("ValueError: weights do not fit: x x") and line.endswith(" ...")
    assert len(line) <= 60 and "\n" not in line


def test_the_message_alone_is_kept_whole_and_a_key_has_no_quotes():
    assert one_line(RuntimeError("no space\n left"), named=False) == "no space left"
    assert one_line(KeyError("modules"), 240) == "KeyError: modules"
    assert one_line(KeyError(), 240) == "KeyError:"
