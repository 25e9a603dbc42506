"""Which paths of a sandbox a snapshot leaves out: git's ignore rules.

The rules come in layers, as git reads them. Each folder's ``.gitignore`` holds
patterns relative to that folder; a deeper file overrides a shallower one, and
within one file the last pattern that matches a path decides (``!`` re-includes).
Below all ``.gitignore`` files come ``.git/info/exclude`` and then the service's
own ``excludes`` (where git has ``core.excludesFile``), both relative to the root.

As in git, an ignored folder is never entered: nothing below it can be
re-included, and its ``.gitignore`` files are never read. A walk judges each
entry once, with the layers of its folder (:meth:`IgnoreRules.ignored`); a single
path is ignored when it or a folder above it is (:meth:`IgnoreRules.ignored_path`).
Anything named ``.git`` is always left out, whatever the rules say.

The pattern syntax (escapes, ``**``, character classes, trailing spaces, invalid
ranges) is pathspec's ``GitIgnoreSpecPattern``. Its ``GitIgnoreSpec`` is not used
to judge paths: it answers for a whole file path at once and differs from git
around folders (with ``*`` then ``!*/`` it calls every folder ignored; with ``d/``
then ``!d/keep`` it keeps ``d/keep``, which git never reaches). So each pattern's
compiled expression is tried against the one entry being judged (:class:`_Rule`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from pathspec.patterns.gitignore import GitIgnorePatternError
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from cleveragents._logging import get_logger
from cleveragents.domain.workspace import ALWAYS_EXCLUDED

RULES_FILE: Final = ".gitignore"
INFO_EXCLUDE: Final = ".git/info/exclude"
# The folders to watch for changes of INFO_EXCLUDE (a walk never enters .git).
INFO_FOLDERS: Final = (".git/", ".git/info/")

_log = get_logger(__name__)

# How a pattern's expression decides whether it matches an entry itself (see _Rule).
_EVERY, _BELOW, _EXACT = range(3)


@dataclass(frozen=True, slots=True)
class _Rule:
    """One pattern, ready to judge one entry (not the folders above it).

    pathspec's expressions match a path *or anything below it*; git asks whether
    a pattern matches the entry itself. A pattern ending in a name matches itself
    exactly (``fullmatch``); one ending in ``**`` matches anything below its stem
    (``search``); ``*``, ``**`` and ``**/`` match every entry (every folder).
    """

    regex: re.Pattern[str]
    ignores: bool  # False for a negated (``!``) pattern
    folders_only: bool  # the pattern ends with "/"
    how: int

    def matches(self, path: str, is_dir: bool) -> bool:
        if self.folders_only and not is_dir:
            return False
        if self.how == _EVERY:
            return True
        if self.how == _BELOW:
            return self.regex.search(path) is not None
        return self.regex.fullmatch(f"{path}/" if self.folders_only else path) is not None


def _rule(line: str) -> _Rule | None:
    """The rule of one pattern line; None for a blank line, a comment or an invalid pattern."""
    pattern = GitIgnoreSpecPattern(line)
    if pattern.include is None or pattern.regex is None:
        return None
    text = line if line.endswith("\\ ") else line.rstrip()
    segments = text[1:].split("/") if text.startswith("!") else text.split("/")
    folders_only = segments[-1] == ""
    if folders_only:
        segments.pop()
    anchored = segments[0] == "" and len(segments) > 1
    stem = (
        [s for s in segments[1:] if s != "**"] if anchored else [s for s in segments if s != "**"]
    )
    if not stem or (stem == ["*"] and segments[-1] == "*" and not anchored):
        how = _EVERY
    elif segments[-1] == "**":
        how = _BELOW
    else:
        how = _EXACT
    return _Rule(pattern.regex, pattern.include, folders_only, how)


def compile_rules(lines: Iterable[str], *, strict: bool = False) -> tuple[_Rule, ...]:
    """The rules of ``lines``, last first (the first that matches decides).

    Git skips a pattern it cannot parse; ``strict`` raises ``ValueError`` instead.
    """
    rules = []
    for line in lines:
        try:
            rule = _rule(line)
        except (GitIgnorePatternError, re.error) as exc:  # re.error: a range such as [z-a]
            if strict:
                raise ValueError(f"not a gitignore pattern: {line!r}") from exc
            continue
        if rule is not None:
            rules.append(rule)
    return tuple(reversed(rules))


def rule_lines(data: bytes) -> list[str]:
    """The lines of a rules file as git splits them: on ``\\n``, one trailing ``\\r`` dropped."""
    if data.startswith(b"\xef\xbb\xbf"):  # git skips a UTF-8 byte order mark
        data = data[3:]
    return [
        (line[:-1] if line.endswith(b"\r") else line).decode("utf-8", "surrogateescape")
        for line in data.split(b"\n")
    ]


def validate_excludes(excludes: Sequence[str]) -> tuple[str, ...]:
    """``excludes`` as a tuple, each checked to be one non-empty gitignore pattern line."""
    if isinstance(excludes, str) or not all(isinstance(p, str) and p for p in excludes):
        raise ValueError("excludes must be a sequence of non-empty gitignore patterns")
    for pattern in excludes:
        if "\n" in pattern or "\r" in pattern:
            raise ValueError(f"an exclude must be one gitignore pattern line, got {pattern!r}")
    compile_rules(excludes, strict=True)
    return tuple(excludes)


def git_internal(path: str) -> bool:
    """True for a path inside the top ``.git`` folder (watched only for its rules file)."""
    return path.startswith(INFO_FOLDERS[0])


@dataclass
class RuleChanges:
    """What a watcher's report means for the rules (see :func:`rules_changed`)."""

    # .git/info/exclude or the top .gitignore changed: every path may be judged anew.
    whole: bool = False
    # .git or .git/info was made or removed: watch them again, and see whether
    # .git/info/exclude has rules now.
    git_folders: bool = False
    # the folders whose own .gitignore changed: what lies below each may be judged anew.
    folders: set[str] = field(default_factory=set)


def rules_changed(paths: Iterable[str]) -> RuleChanges:
    """Judge the changed paths (files and folders) a watcher reported."""
    found = RuleChanges()
    for path in paths:
        folder, _, name = path.rpartition("/")
        if name == RULES_FILE:
            if folder:
                found.folders.add(folder)
            else:
                found.whole = True
        elif path == INFO_EXCLUDE:
            found.whole = True
        elif path in (".git", ".git/info"):
            found.git_folders = True
    return found


@dataclass(frozen=True, slots=True)
class _Screen:
    """Whether any rule of a layer may match an entry, in a few expressions instead of
    one per rule: most entries of a tree match no rule at all.

    The rules that match the same way (see :class:`_Rule`) are joined into one
    alternation; when none of them matches, no rule does, and the layer is passed
    over. When one does, the rules are tried one by one, last first, as before.
    """

    every: bool  # a rule matches every entry
    every_folder: bool  # a folder-only rule matches every folder
    exact: re.Pattern[str] | None  # the whole path
    below: re.Pattern[str] | None  # anywhere in the path
    exact_folder: re.Pattern[str] | None  # the whole path and a "/", for folders only
    below_folder: re.Pattern[str] | None  # anywhere in the path, for folders only

    def may_match(self, path: str, is_dir: bool) -> bool:
        if self.every or (self.exact and self.exact.fullmatch(path)):
            return True
        if self.below and self.below.search(path):
            return True
        if not is_dir:
            return False
        return bool(
            self.every_folder
            or (self.exact_folder and self.exact_folder.fullmatch(f"{path}/"))
            or (self.below_folder and self.below_folder.search(path))
        )


# pathspec names a group in each expression; joined, the names would clash.
_NAMED_GROUP: Final = re.compile(r"\(\?P<[A-Za-z_]\w*>")


def _joined(rules: Sequence[_Rule]) -> re.Pattern[str] | None:
    if not rules:
        return None
    return re.compile(
        "|".join(f"(?:{_NAMED_GROUP.sub('(?:', rule.regex.pattern)})" for rule in rules)
    )


def _screen(rules: Sequence[_Rule]) -> _Screen | None:
    """The screen of ``rules``; None when their expressions cannot be joined."""

    def kind(how: int, folders_only: bool) -> list[_Rule]:
        return [r for r in rules if r.how == how and r.folders_only == folders_only]

    try:
        return _Screen(
            every=bool(kind(_EVERY, False)),
            every_folder=bool(kind(_EVERY, True)),
            exact=_joined(kind(_EXACT, False)),
            below=_joined(kind(_BELOW, False)),
            exact_folder=_joined(kind(_EXACT, True)),
            below_folder=_joined(kind(_BELOW, True)),
        )
    except re.error:  # e.g. a flag that must come first: every rule is tried instead
        return None


@dataclass(frozen=True, slots=True)
class _Layer:
    """The rules of one source, and the folder (``""`` or ``"a/b/"``) they are relative to."""

    base: str
    rules: tuple[_Rule, ...]
    screen: _Screen | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "screen", _screen(self.rules))


# Every layer that applies inside one folder, deepest first.
Layers = tuple[_Layer, ...]


class IgnoreRules:
    """git's ignore rules for one tree, read folder by folder as they are needed.

    ``gitignore=False`` leaves the tree's rules files unread: only the ``excludes``
    (and ``.git``) apply. An instance caches what it read: make a new one when a
    rules file may have changed.
    """

    def __init__(self, root: str, excludes: Sequence[str] = (), *, gitignore: bool = True) -> None:
        self._root = root
        self.gitignore = gitignore
        top: list[_Layer] = []
        exclude = _read_rules(f"{root}/{INFO_EXCLUDE}", root) if gitignore else ()
        if exclude:
            top.append(_Layer("", exclude))
        # True when .git/info/exclude holds rules.
        self.git_excludes = bool(exclude)
        own = compile_rules(excludes)
        if own:
            top.append(_Layer("", own))
        self.top: Layers = tuple(top)
        self._layers: dict[str, Layers] = {}

    def enter(self, prefix: str, inherited: Layers, *, listed: bool = True) -> Layers:
        """The layers of the folder ``prefix`` (``""`` or ``"a/b/"``), given its parent's.

        ``listed=False`` tells that the folder's listing holds no ``.gitignore``,
        which spares trying to open one. Not cached: a walk keeps them on its stack.
        """
        if not self.gitignore or not listed:
            return inherited
        own = _read_rules(f"{self._root}/{prefix}{RULES_FILE}", self._root)
        return (_Layer(prefix, own), *inherited) if own else inherited

    def layers_in(self, prefix: str) -> Layers:
        """The layers of the folder ``prefix``, read from the rules files above it once."""
        cached = self._layers.get(prefix)
        if cached is None:
            parent = prefix[:-1].rpartition("/")[0]
            inherited = self.layers_in(f"{parent}/" if parent else "") if prefix else self.top
            cached = self._layers[prefix] = self.enter(prefix, inherited)
        return cached

    @staticmethod
    def ignored(relative: str, is_dir: bool, layers: Layers) -> bool:
        """True when ``layers`` (those of its folder) leave ``relative`` itself out."""
        if relative.rpartition("/")[2] in ALWAYS_EXCLUDED:
            return True
        for layer in layers:
            path = relative[len(layer.base) :]
            screen = layer.screen
            if screen is not None and not screen.may_match(path, is_dir):
                continue
            for rule in layer.rules:
                if rule.matches(path, is_dir):
                    return rule.ignores
        return False

    def ignored_path(self, relative: str, is_dir: bool) -> bool:
        """True when ``relative`` or any folder above it is left out (git never enters those)."""
        prefix = ""
        parts = relative.split("/")
        last = len(parts) - 1
        for index, name in enumerate(parts):
            path = f"{prefix}{name}"
            if self.ignored(path, is_dir or index < last, self.layers_in(prefix)):
                return True
            prefix = f"{path}/"
        return False


def _read_rules(path: str, root: str) -> tuple[_Rule, ...]:
    """The rules of the file at ``path``; none when it is not a regular file.

    Like git, a symlink is not followed, and a file that cannot be read is warned
    about and counts as empty.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            _log.warning("snapshot.rules_unreadable", path=path, root=root, reason=exc.strerror)
        return ()
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ()
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read()
    except OSError as exc:
        _log.warning("snapshot.rules_unreadable", path=path, root=root, reason=exc.strerror)
        return ()
    finally:
        os.close(fd)
    return compile_rules(rule_lines(data))
