Feature: Checkpoint retention and the space it gives back
  A prune removes a plan's oldest checkpoints until every limit holds: the newest
  N (keep_last), none older than a duration but the newest (older_than), the
  stored bytes only this plan references (max_bytes). Whatever it keeps still
  verifies and restores exactly. On a SQLite file the pages it frees go back to
  the file system before it returns, in steps short enough for other writers.

  Background:
    Given a checkpoint service
    And a sandbox holding
      | path        | content        |
      | src/main.py | print('hello') |
      | README.md   | # project      |
    And 5 snapshots of plan "plan-1", each replacing 8 KB of content

  Scenario: keep_last keeps the newest checkpoints, which still restore exactly
    When I prune plan "plan-1" with keep_last=2
    Then 3 checkpoints were pruned
    And plan "plan-1" keeps checkpoints 4 to 5
    And every kept checkpoint verifies and restores exactly as it was snapshotted
    And no stored object is unreachable

  Scenario: keep_last=0 deletes every checkpoint
    When I prune plan "plan-1" with keep_last=0
    Then 5 checkpoints were pruned
    And plan "plan-1" keeps no checkpoint
    And no stored object is unreachable

  Scenario: older_than removes what was made before the cutoff, never the newest
    Given checkpoints 1 to 3 of plan "plan-1" were made 10 days ago
    When I prune plan "plan-1" with older_than=7d
    Then 3 checkpoints were pruned
    And plan "plan-1" keeps checkpoints 4 to 5
    And every kept checkpoint verifies and restores exactly as it was snapshotted
    Given checkpoints 4 to 5 of plan "plan-1" were made 10 days ago
    When I prune plan "plan-1" with older_than=0s
    Then 1 checkpoint was pruned
    And plan "plan-1" keeps checkpoints 5 to 5
    And every kept checkpoint verifies and restores exactly as it was snapshotted

  Scenario: max_bytes removes the oldest until the plan's own bytes fit, never the newest
    When I prune plan "plan-1" with max_bytes=own(3..5)
    Then 2 checkpoints were pruned
    And plan "plan-1" keeps checkpoints 3 to 5
    And the stored bytes only plan "plan-1" references are at most the limit
    And every kept checkpoint verifies and restores exactly as it was snapshotted
    When I prune plan "plan-1" with max_bytes=0
    Then 2 checkpoints were pruned
    And plan "plan-1" keeps checkpoints 5 to 5
    And every kept checkpoint verifies and restores exactly as it was snapshotted
    And no stored object is unreachable

  Scenario: max_bytes counts only the content no other plan references
    Given I snapshot the sandbox for plan "plan-2" before decision "d1"
    When I prune plan "plan-1" with max_bytes=own(4..5)
    Then 3 checkpoints were pruned
    And the stored bytes only plan "plan-1" references are at most the limit
    And plan "plan-2"'s only checkpoint verifies and restores exactly as it was snapshotted
    And no stored object is unreachable

  Scenario Outline: With several limits the strictest one decides
    Given checkpoints 1 to 2 of plan "plan-1" were made 10 days ago
    When I prune plan "plan-1" with <limits>
    Then <count> checkpoints were pruned
    And every kept checkpoint verifies and restores exactly as it was snapshotted

    Examples:
      | limits                                | count |
      | keep_last=4 and older_than=7d         | 2     |
      | keep_last=2 and older_than=7d         | 3     |
      | older_than=7d and max_bytes=own(4..5) | 3     |
      | keep_last=5 and max_bytes=own(2..5)   | 1     |
      | keep_last=0 and max_bytes=own(1..5)   | 5     |

  Scenario Outline: Bad limits are refused and delete nothing
    When I try to prune plan "plan-1" with <limits>
    Then it fails with ValueError
    And plan "plan-1" keeps checkpoints 1 to 5

    Examples:
      | limits                |
      | no limit              |
      | keep_last=-1          |
      | older_than=-1         |
      | max_bytes=-1          |
      | max_bytes=true        |

  Scenario: A dry run names what a prune removes and the bytes, and writes nothing
    Given I note the number of stored objects
    When I ask for a dry run of a prune of plan "plan-1" with keep_last=2
    Then the report names checkpoints 1 to 3 and the bytes only they hold
    And plan "plan-1" keeps checkpoints 1 to 5
    And the number of stored objects is unchanged
    When I prune plan "plan-1" with keep_last=2, asking for the report
    Then the report is the dry run's, not a dry run

  Scenario: A budget sweep removes the oldest checkpoints of every plan, never a plan's newest
    Given 3 snapshots of plan "plan-2", each replacing 8 KB of content
    When the database is swept to the bytes that plan "plan-1" checkpoint 5 and plan "plan-2" checkpoints 2 to 3 hold
    Then the sweep removed plan "plan-1" checkpoints 1 to 4 and plan "plan-2" checkpoints 1 to 1
    And the stored content takes at most the budget
    And every kept checkpoint verifies and restores exactly as it was snapshotted
    When the database is swept to 0 bytes
    Then each plan keeps only its newest checkpoint

  Scenario: A new SQLite file is made with incremental auto-vacuum
    Given a SQLite database file of its own
    Then its auto_vacuum is incremental

  Scenario: After a prune the SQLite file is close to a fresh one holding what is left
    Given a SQLite database file of its own
    And 20 snapshots of plan "big" in it, each replacing 256 KB of content
    When plan "big" is pruned in it to its last checkpoint while its size is watched
    Then its file and WAL take at most 1.25 times a fresh copy of what is left
    And the file never grew by more than 1024 KB during the prune
    And its last checkpoint verifies and restores exactly

  Scenario: Deleting a plan gives its space back too
    Given a SQLite database file of its own
    And 10 snapshots of plan "big" in it, each replacing 256 KB of content
    When plan "big" is deleted through the front door of its file
    Then its file and WAL take at most 1.25 times a fresh copy of what is left

  Scenario: A writer in another thread keeps working while the space is given back
    Given a SQLite database file of its own
    And 12 snapshots of plan "big" in it, each replacing 512 KB of content
    When plan "big" is pruned in it to its last checkpoint while another thread records entries
    Then the writer saw no error and every entry it recorded is stored
    And its file and WAL take at most 1.25 times a fresh copy of what is left

  Scenario: An older SQLite file gets incremental auto-vacuum from db vacuum
    Given a SQLite file made with auto_vacuum off, then migrated
    And 6 snapshots of plan "big" in it, each replacing 256 KB of content
    When plan "big" is pruned in it to its last checkpoint while its size is watched
    Then its auto_vacuum is none and its free pages are kept
    When I run "db vacuum" on it
    Then the command printed the bytes its file and WAL shrank by
    And its auto_vacuum is incremental
    And its file and WAL take at most 1.25 times a fresh copy of what is left

  @persistent
  Scenario: checkpoint prune in every format, with a dry run
    When I run the command line with "checkpoint prune plan-1 --keep-last 2 --dry-run --format json" on the scenario database
    Then the exit code is 0
    And the json prune document names checkpoints 1 to 3, as a dry run
    And plan "plan-1" keeps checkpoints 1 to 5
    When I run the command line with "checkpoint prune plan-1 --older-than 1h --keep 3 --dry-run --format yaml" on the scenario database
    Then the yaml prune document names checkpoints 1 to 2, as a dry run
    When I run the command line with "checkpoint prune plan-1 --max-size 2GB --older-than 1w --dry-run --format plain" on the scenario database
    Then stdout is exactly "dry_run: true|count: 0|bytes_freed: 0|checkpoint_ids: 0"
    When I run the command line with "checkpoint prune plan-1 --keep-last 3 --format rich" on the scenario database
    Then the exit code is 0
    And stdout contains "plan plan-1: deleted 2 checkpoints"
    And plan "plan-1" keeps checkpoints 3 to 5
    When I run the command line with "checkpoint prune plan-1 --keep-last 1 --format plain" on the scenario database
    Then stdout is exactly "2"
    When I run the command line with "checkpoint prune plan-1 --keep-last 1 --format json" on the scenario database
    Then the json prune document names no checkpoint, not as a dry run

  @persistent
  Scenario Outline: checkpoint prune refuses bad limits with exit code 2 and one line
    When I run the command line with "checkpoint prune plan-1 <options>" on the scenario database
    Then the exit code is 2
    And stderr is exactly one line starting with "<error>"
    And plan "plan-1" keeps checkpoints 1 to 5

    Examples:
      | options            | error                                  |
      |                    | error: give at least one of            |
      | --older-than 7x    | error: invalid --older-than: '7x'      |
      | --older-than 7     | error: invalid --older-than: '7'       |
      | --max-size 2XB     | error: invalid --max-size: '2XB'       |
      | --max-size -5GB    | error: invalid --max-size: '-5GB'      |
      | --keep-last -1     | error: Invalid value for '--keep-last' |
