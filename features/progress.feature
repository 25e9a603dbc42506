Feature: Progress reports of snapshots, restores, verifications and rollbacks
  A progress callback hears each stage of a long operation as (stage, done,
  total), in the calling thread. A stage's first report has done 0; done never
  goes back nor above the total; its last report has done equal to the total (a
  walk, whose total is unknown until it ends, gives it there). Between its first
  and last report a stage reports at most once every 50 ms. A stage with nothing
  to do is not reported: "read?" marks a stage that may have nothing to do. A
  callback that raises stops the operation with nothing half done.

  Scenario: A snapshot walks the sandbox, reads what changed and stores it
    Given a sandbox of plan "plan-1" of 2000 files with checkpoints "A" and "B" that differ by every kind of step
    And a checkpoint service that does not watch
    And 300 files of the sandbox get new content
    When I snapshot the sandbox for plan "plan-1" reporting progress
    Then the stages reported were "scan, read, store"
    And every stage was reported in order, throttled, in the calling thread
    And the scan's total was unknown until its last report
    And the "store" stage counted 300 items

  Scenario: A snapshot after a watcher's report knows how many paths it looks at
    Given a sandbox of plan "plan-1" of 2000 files with checkpoints "A" and "B" that differ by every kind of step
    And 300 files of the sandbox get new content
    When I snapshot the sandbox for plan "plan-1" reporting progress
    Then the stages reported were "scan, read, store"
    And every stage was reported in order, throttled, in the calling thread
    And the scan's total was known from its first report
    And the "read" stage counted 300 items
    And the "store" stage counted 300 items

  Scenario: A restore in place reads the folder, stages the files and swaps them in
    Given a sandbox of plan "plan-1" of 2000 files with checkpoints "A" and "B" that differ by every kind of step
    And a checkpoint service that does not watch
    When I restore checkpoint "A" into the sandbox reporting progress
    Then the stages reported were "scan, read?, stage, swap"
    And every stage was reported in order, throttled, in the calling thread
    And the sandbox is in state "A"

  Scenario: A restore into a fresh folder only stages and swaps
    Given a sandbox of plan "plan-1" of 2000 files with checkpoints "A" and "B" that differ by every kind of step
    When I restore checkpoint "A" into a fresh folder reporting progress
    Then the stages reported were "stage, swap"
    And every stage was reported in order, throttled, in the calling thread
    And the fresh folder is in state "A"

  Scenario: A verification re-hashes every stored object
    Given a sandbox of plan "plan-1" of 2000 files with checkpoints "A" and "B" that differ by every kind of step
    When I verify checkpoint "A" reporting progress
    Then the stages reported were "verify"
    And every stage was reported in order, throttled, in the calling thread

  Scenario: A rollback checks the sandbox, snapshots it, resets it and marks the records
    Given a sandbox of plan "plan-1" of 2000 files with checkpoints "A" and "B" that differ by every kind of step
    And a checkpoint service that does not watch
    When I roll plan "plan-1" back to checkpoint "A" reporting progress
    Then the stages reported were "scan, read?, scan, read?, store?, scan, read?, stage, swap, records"
    And every stage was reported in order, throttled, in the calling thread
    And the sandbox is in state "A"

  Scenario Outline: A callback that raises at the <report> report of "<stage>" leaves the sandbox <left>
    Given a sandbox of plan "plan-1" of 48 files with checkpoints "A" and "B" that differ by every kind of step
    When I restore checkpoint "A" into the sandbox with a callback that raises at the <report> report of "<stage>"
    Then the callback's error reached the caller
    And the sandbox is in state "<state>" with no staging folder

    Examples:
      | stage | report | left      | state |
      | stage | first  | as it was | B     |
      | stage | last   | as it was | B     |
      | swap  | first  | as it was | B     |
      | swap  | last   | restored  | A     |

  Scenario Outline: A callback that raises at the <report> report of "<stage>" of a rollback <outcome>
    Given a sandbox of plan "plan-1" of 48 files with checkpoints "A" and "B" that differ by every kind of step
    And plan "plan-1" records an entry after checkpoint "B"
    When I roll plan "plan-1" back to checkpoint "A" with a callback that raises at the <report> report of "<stage>"
    Then the callback's error reached the caller
    And the sandbox is in state "<state>" with no staging folder
    And the entry recorded after checkpoint "B" is <entry>

    Examples:
      | stage   | report | outcome                                         | state | entry       |
      | stage   | last   | leaves the sandbox and the records as they were | B     | live        |
      | swap    | last   | still marks the records, then raises            | A     | rolled back |
      | records | first  | still marks the records, then raises            | A     | rolled back |
      | records | last   | comes after the whole rollback                  | A     | rolled back |

  Scenario: A callback that raises while staging into a fresh folder leaves no folder
    Given a sandbox of plan "plan-1" of 48 files with checkpoints "A" and "B" that differ by every kind of step
    When I restore checkpoint "A" into a fresh folder with a callback that raises at the last report of "stage"
    Then the callback's error reached the caller
    And the fresh folder does not exist

  Scenario Outline: A progress that is not callable is refused before anything is written
    Given a sandbox of plan "plan-1" of 48 files with checkpoints "A" and "B" that differ by every kind of step
    When I ask to <operation> with progress "x"
    Then it fails with ValueError
    And the sandbox is in state "B" with no staging folder
    And plan "plan-1" still has 2 checkpoints

    Examples:
      | operation                                 |
      | snapshot the sandbox for plan "plan-1"    |
      | restore checkpoint "A" into the sandbox   |
      | reset the sandbox to checkpoint "A"       |
      | verify checkpoint "A"                     |
      | roll plan "plan-1" back to checkpoint "A" |
