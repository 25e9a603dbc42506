Feature: Workspace snapshots
  Before each agent decision the sandbox is snapshotted; the diff metadata
  (diff_paths, diff_based, diff_hash) is computed first and persisted by the one
  create call, so it survives a restart.

  Background:
    Given a checkpoint service
    And a sandbox holding
      | path            | content          |
      | src/main.py     | print('hello')   |
      | src/util.py     | def util(): ...  |
      | README.md       | # project        |
      | .git/HEAD       | ref: main        |

  Scenario: The snapshot makes exactly one create call, with the diff metadata already set
    Given the repository is wrapped by a spy
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the spy saw exactly 1 write call and it was create
    And the checkpoint passed to create already had diff_paths, diff_based and diff_hash
    And the checkpoint returned is the one passed to create, unchanged

  @persistent
  Scenario: The diff metadata survives a restart
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I change "src/main.py" to "print('bye')"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then a new process reads both checkpoints with the same diff metadata

  Scenario: The first snapshot lists every file and .git is never included
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the diff paths are "README.md, src/main.py, src/util.py"
    And diff_based is true
    And the diff hash is the sha256 of the canonical diff

  Scenario: Later snapshots list exactly what was added, modified and deleted
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I change "src/main.py" to "print('bye')"
    And I delete "README.md"
    And I change "docs/new.md" to "# new"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the diff paths are "README.md, docs/new.md, src/main.py"
    And the checkpoint's parent is the previous checkpoint

  Scenario: An unchanged workspace gives an empty diff, and equal diffs give equal hashes
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I snapshot the sandbox for plan "plan-1" before decision "d2"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    Then the diff paths are ""
    And the last two checkpoints have the same diff hash

  Scenario: A change of the executable bit is a change
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I make "src/main.py" executable
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the diff paths are "src/main.py"

  Scenario: A file rewritten within the same timestamp tick is still seen as changed
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I rewrite "src/util.py" with same-size content keeping its timestamps
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the diff paths are "src/util.py"

  Scenario: Unchanged files are not read again
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    And the sandbox's files are older than the last snapshot
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I change "src/main.py" to "print('bye')"
    And I snapshot the sandbox for plan "plan-1" while counting file reads
    Then only "src/main.py" was read

  Scenario: A snapshot taken through another service in between is the next one's baseline
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I change "src/main.py" to "print('one')"
    And another checkpoint service snapshots the sandbox for plan "plan-1" before decision "d2"
    And I change "src/util.py" to "def util(): 2"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    Then the diff paths are "src/util.py"

  Scenario: A stat cache the scanner cannot parse makes the next snapshot read every file
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    And the stored stat cache of plan "plan-1" is overwritten with "[1, 2, 3]"
    And a new checkpoint service
    When I change "src/main.py" to "print('bye')"
    And I snapshot the sandbox for plan "plan-1" while counting file reads
    Then the diff paths are "src/main.py"
    And every file of the sandbox was read

  Scenario: Only changed content is stored, and identical content once across plans
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I note the number of stored objects
    When I snapshot the sandbox for plan "plan-2" before decision "d1"
    Then no new blob was stored
    When I change "src/main.py" to "print('bye')"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then exactly 1 new blob was stored

  Scenario: Excluded globs, symlinks, large files and undecodable names
    Given a checkpoint service excluding "*.log, build" with a size limit of 64 bytes
    And the sandbox also holds "debug.log", "build/out.bin" and a 100-byte "data/big.bin"
    And the sandbox holds a symlink "link" to "src/main.py"
    And the sandbox holds a file whose name is not valid UTF-8
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the diff paths are "README.md, data/big.bin, link, src/main.py, src/util.py"
    And "link" is recorded as a symlink and "data/big.bin" as a large file

  Scenario: A checkpoint without a snapshot records its parent and metadata
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I create a manual checkpoint for plan "plan-1" with description "before refactor"
    Then the checkpoint's parent is the previous checkpoint
    And the plan lists 2 checkpoints oldest first
    And the latest checkpoint of plan "plan-1" is the manual one

  Scenario Outline: A prune racing a snapshot cannot leave it pointing at deleted content (baseline <source>)
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    And a prune of plan "plan-1" will run right after the next snapshot reads its baseline <source>
    When I change "src/main.py" to "print('raced')"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the last checkpoint verifies and restores into a fresh folder like the sandbox

    Examples:
      | source            |
      | kept in memory    |
      | from the database |

  Scenario: Stored content fills the pages of a SQLite file
    A SQLite file of its own, whatever the backend of this run. SQLite appends
    rows to a table's last page and starts a new one when the next row does not
    fit. The objects are appended in an order planned to fill each page (appended
    as they come, about a quarter of these pages stayed empty).
    Given a SQLite database file of its own
    When 600 files of random sizes up to 12 KB are snapshotted into it
    Then the leaf pages of its objects table are less than 5% empty
    And the record sizes computed for random rows are the ones SQLite stores
    And ordering random rows for the leaf pages keeps every row exactly once
