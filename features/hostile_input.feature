Feature: Hostile input is stored exactly or refused, and paths never lead outside
  Agents feed the library whatever their tools produced. Every public method of
  the changeset, checkpoint and error pattern stores either stores what it is
  given and reads it back exactly (same values and types; datetimes as the same
  UTC instant), or refuses it with ValueError or ValidationError and writes
  nothing (every table keeps its row count). Any other exception fails.

  The values come from hypothesis: empty and whitespace strings, 1 MB strings,
  NUL, lone surrogates, JSON nested 2,000 deep, NaN and infinities, 2**63 and
  10**30, naive datetimes and offsets such as +05:45 and -00:01 at the years 1
  and 9999, SQL-looking text, and the same text in several Unicode
  normalisations. Runs are derandomized, so every run tries the same examples.

  Background:
    Given the database server's default time zone is "Asia/Kathmandu"
    And hostile stores on the scenario's database

  Scenario: Change entries round-trip through every write method or are refused
    Then every hostile change entry written through record, record_many, save_entry and save_entries reads back exactly or is refused without a write

  Scenario: Tool invocations are stored as given (secrets redacted) or refused
    Then every hostile tool invocation written through record_invocation and save_invocation reads back as stored or is refused without a write

  Scenario: Every read and delete method takes any id or refuses it with ValueError
    Then every hostile id given to a read or delete method of the three stores gives the answer for an unknown id or a ValueError, and writes nothing

  Scenario: Checkpoints round-trip through the service and the repository or are refused
    Then every hostile checkpoint made through create_checkpoint or the repository's create reads back exactly or is refused without a write

  Scenario: Error patterns round-trip through every method or are refused
    Then every hostile error pattern call (create, update, get, delete, list_all, match_context, record_occurrence, count, statistics) round-trips or is refused without a write

  Scenario: Applying hostile paths never writes outside the target
    Then applying plans whose entries carry hostile paths never writes outside the target

  Scenario: Restoring hostile file names never writes outside the target
    Then restoring snapshots of hostile file names never writes outside the target, even through a symlinked parent

  Scenario: A crafted manifest cannot turn a restore into a write outside the target
    Then a crafted manifest whose symlink is also a folder is refused and writes nothing
