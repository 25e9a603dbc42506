Feature: Rolling a plan back to one of its checkpoints
  PlanRollbackService.rollback takes a pre_rollback safety checkpoint of the
  sandbox as it is, resets the sandbox exactly to the checkpoint (files no
  snapshot ever saw included), and marks every entry and tool invocation of the
  plan recorded after the checkpoint with rolled_back_by = the safety checkpoint.
  Marked records stay for the audit trail; summaries and apply leave them out.
  Rolling back to the safety checkpoint undoes the rollback.

  Background:
    Given a changeset store
    And a checkpoint service
    And a rollback service
    And a target folder holding
      | path        | content         |
      | src/main.py | print('old')    |
      | src/util.py | def util(): ... |
      | README.md   | # project       |
    And a sandbox copied from the target
    And the sandbox gets, without a record
      | kind    | path        | content             | mode |
      | file    | .env        | SECRET=1            | 600  |
      | file    | bin/run.sh  | #!/bin/sh\necho run | 755  |
      | file    | bin/setuid  | #!/bin/sh           | 4750 |
      | symlink | docs/ca     | ../src/             |      |
      | folder  | cache/empty |                     |      |

  Scenario: Rolling back after a bad step resets the sandbox exactly and marks what came after
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content         | old_path    | kind    | mode |
      | modify    | src/main.py | print('two')    |             |         |      |
      | create    | src/new.py  | NEW = 1         |             |         | 700  |
      | delete    | README.md   |                 |             |         |      |
      | rename    | lib/util.py | def util(): ... | src/util.py |         |      |
      | modify    | docs/ca     | ./../lib/       |             | symlink |      |
    And the sandbox gets, without a record
      | kind   | path              | content    | mode |
      | file   | scratch/notes.txt | never seen | 644  |
      | chmod  | .env              |            | 644  |
      | remove | cache/empty       |            |      |
      | folder | build/out         |            |      |
    And I take checkpoint "c2" of plan "plan-1"
    And the agent records step "s2" in the sandbox for plan "plan-1"
      | operation | path       | content             | kind    |
      | modify    | bin/run.sh | #!/bin/sh\nrm -rf ~ |         |
      | create    | out.lnk    | src/new.py          | symlink |
    And the sandbox gets, without a record
      | kind    | path             | content       | mode |
      | file    | tmp/never-seen   | junk          | 666  |
      | symlink | dangling         | /nonexistent/ |      |
      | folder  | build/out/deeper |               |      |
      | chmod   | bin/setuid       |               | 755  |
    When I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    Then checkpoint "S1" is the newest checkpoint of plan "plan-1", of type "pre_rollback", whose parent is "c2"
    And restoring checkpoint "S1" into a fresh folder gives the sandbox as it was just before the rollback
    And the sandbox tree is exactly checkpoint "c1"'s
    And the sandbox has no "tmp/never-seen, scratch, dangling, build, out.lnk, lib, src/new.py"
    And every record made after checkpoint "c1" is marked by "S1" and every record before it is live
    And the rollback went back to "c1" writing ".env, README.md, bin/run.sh, bin/setuid, cache/empty/, docs/ca, src/main.py, src/util.py" and removing "build/out/deeper/, cache/, dangling, lib/util.py, out.lnk, scratch/notes.txt, src/new.py, tmp/never-seen"
    And the rollback marked 7 entries and 7 tool invocations

  Scenario: After a rollback, summaries and apply see only the live records, and every record is kept
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
      | create    | src/new.py  | NEW = 1      |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('bad') |
      | delete    | README.md   |              |
      | create    | bad.py      | raise        |
    When I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    Then the live records of plan "plan-1" are exactly those of steps "s0"
    When I apply plan "plan-1"
    Then the apply result lists written "src/main.py, src/new.py", deleted "", renamed ""
    And the target holds the sandbox's "src/main.py, src/new.py" and is otherwise as before
    And the live records of plan "plan-1" are exactly those of steps "s0"
    And the records of steps "s1" are marked by "S1"

  Scenario: A summary leaves rolled-back entries and invocations out of every count
    Given a started changeset "A" for plan "plan-1"
    And I record into "A" for plan "plan-1"
      | path | operation | insertions | deletions |
      | a.py | create    | 5          | 0         |
      | b.py | modify    | 2          | 1         |
    And I record a tool invocation "write_file" into "A" for plan "plan-1"
    And I take checkpoint "c1" of plan "plan-1"
    And I record into "A" for plan "plan-1"
      | path | operation | insertions | deletions |
      | b.py | modify    | 3          | 3         |
      | c.py | delete    | 0          | 4         |
      | d.py | rename    | 1          | 1         |
      | e.py | create    | 9          | 0         |
    And I record a failing tool invocation "run_tests" into "A" for plan "plan-1"
    When I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    And I summarize changeset "A"
    Then the summary is
      | files_changed | created | modified | deleted | renamed | insertions | deletions | tool_invocations | failed_invocations | rolled_back |
      | 2             | 1       | 1        | 0       | 0       | 7          | 1         | 1                | 0                  | 4           |
    And the summary paths are "a.py, b.py"
    And changeset "A" reads back for plan "plan-1" with 6 entries and 2 invocations
    And the rollback marked 4 entries and 1 tool invocations

  Scenario: A summary of a changeset recorded wholly after the checkpoint counts nothing but rolled_back
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
      | create    | x.py        | X = 1        |
    When I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    And I summarize the changeset of step "s1"
    Then the summary is
      | files_changed | created | modified | deleted | renamed | insertions | deletions | tool_invocations | failed_invocations | rolled_back |
      | 0             | 0       | 0        | 0       | 0       | 0          | 0         | 0                | 0                  | 2           |
    And the summary paths are ""
    When I summarize the changeset of step "s0"
    Then the summary is
      | files_changed | created | modified | deleted | renamed | tool_invocations | rolled_back |
      | 1             | 0       | 1        | 0       | 0       | 1                | 0           |

  Scenario: Which records come after a checkpoint does not depend on their clocks
    Given a started changeset "A" for plan "plan-1"
    And I record entry "clock-ahead" into "A" for plan "plan-1" created an hour from now
    And I take checkpoint "c1" of plan "plan-1"
    And I record entry "same-instant" into "A" for plan "plan-1" created at checkpoint "c1"'s time
    And I record entry "clock-behind" into "A" for plan "plan-1" created a minute before checkpoint "c1"'s time
    And I record a tool call "call-behind" into "A" for plan "plan-1" started a minute before checkpoint "c1"'s time
    Then by their clocks "same-instant, clock-behind, call-behind" are no later than checkpoint "c1" and "clock-ahead" is later
    When I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    Then the live records of plan "plan-1" are exactly those of steps "clock-ahead"
    And the records of steps "same-instant, clock-behind, call-behind" are marked by "S1"
    And the rollback marked 2 entries and 1 tool invocations

  Scenario: Rolling back to the safety checkpoint undoes a rollback
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      | kind    |
      | modify    | src/main.py | print('two') |         |
      | delete    | README.md   |              |         |
      | create    | link        | src/         | symlink |
    And I record a failing tool call "s1-tests" without a changeset for plan "plan-1"
    And the sandbox gets, without a record
      | kind   | path           | content | mode |
      | file   | notes/todo.txt | later   | 640  |
      | folder | empty          |         |      |
      | chmod  | .env           |         | 400  |
    And I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    And the agent records step "s2" in the sandbox for plan "plan-1"
      | operation | path        | content        |
      | modify    | src/main.py | print('other') |
    When I roll plan "plan-1" back to checkpoint "S1" keeping the safety checkpoint as "S2"
    Then the sandbox tree is exactly checkpoint "S1"'s
    And the live records of plan "plan-1" are exactly those of steps "s0, s1, s1-tests"
    And the records of steps "s2" are marked by "S2"
    And the rollback marked 1 entries and 1 tool invocations
    And checkpoint "S2" is the newest checkpoint of plan "plan-1", of type "pre_rollback", whose parent is "S1"
    And restoring checkpoint "S2" into a fresh folder gives the sandbox as it was just before the rollback

  Scenario: A rollback to a checkpoint made after an earlier rollback keeps what that checkpoint saw
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s0.txt | zero    |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s1.txt | one     |
    And I take checkpoint "c2" of plan "plan-1"
    And the agent records step "s2" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s2.txt | two     |
    And I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    And the agent records step "s3" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s3.txt | three   |
    And I take checkpoint "c3" of plan "plan-1"
    And the agent records step "s4" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s4.txt | four    |
    When I roll plan "plan-1" back to checkpoint "c3" keeping the safety checkpoint as "S2"
    Then the live records of plan "plan-1" are exactly those of steps "s0, s3"
    And the records of steps "s1, s2" are marked by "S1"
    And the records of steps "s4" are marked by "S2"
    And the sandbox tree is exactly checkpoint "c3"'s
    When I roll plan "plan-1" back to checkpoint "c2" keeping the safety checkpoint as "S3"
    Then the live records of plan "plan-1" are exactly those of steps "s0, s1"
    And the records of steps "s2" are marked by "S1"
    And the records of steps "s3" are marked by "S3"
    And the records of steps "s4" are marked by "S2"
    And the sandbox tree is exactly checkpoint "c2"'s
    And every checkpoint taken restores into a fresh folder exactly as it was taken

  Scenario: Undoing a rollback and then going back past it again
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s0.txt | zero    |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s1.txt | one     |
    And I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    And the agent records step "s2" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s2.txt | two     |
    And I take checkpoint "c2" of plan "plan-1"
    When I roll plan "plan-1" back to checkpoint "S1" keeping the safety checkpoint as "S2"
    Then the live records of plan "plan-1" are exactly those of steps "s0, s1"
    And the records of steps "s2" are marked by "S2"
    And the rollback marked 1 entries and 1 tool invocations
    When I roll plan "plan-1" back to checkpoint "c2" keeping the safety checkpoint as "S3"
    Then the live records of plan "plan-1" are exactly those of steps "s0, s2"
    And the records of steps "s1" are marked by "S3"
    And the rollback marked 1 entries and 1 tool invocations
    And the sandbox tree is exactly checkpoint "c2"'s
    When I take checkpoint "c3" of plan "plan-1"
    Then every checkpoint taken restores into a fresh folder exactly as it was taken

  Scenario: Records rolled back twice keep their first mark until a rollback brings them back
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s0.txt | zero    |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s1.txt | one     |
    And I take checkpoint "c2" of plan "plan-1"
    And the agent records step "s2" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s2.txt | two     |
    And I roll plan "plan-1" back to checkpoint "c2" keeping the safety checkpoint as "S1"
    And the agent records step "s3" in the sandbox for plan "plan-1"
      | operation | path   | content |
      | create    | s3.txt | three   |
    And I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S2"
    When I roll plan "plan-1" back to checkpoint "c2" keeping the safety checkpoint as "S3"
    Then the live records of plan "plan-1" are exactly those of steps "s0, s1"
    And the records of steps "s2" are marked by "S1"
    And the records of steps "s3" are marked by "S2"
    And the rollback marked 0 entries and 0 tool invocations
    When I roll plan "plan-1" back to checkpoint "S2" keeping the safety checkpoint as "S4"
    Then the live records of plan "plan-1" are exactly those of steps "s0, s1, s3"
    And the records of steps "s2" are marked by "S1"
    And the sandbox tree is exactly checkpoint "S2"'s
    And every checkpoint taken restores into a fresh folder exactly as it was taken

  Scenario: A dry run changes nothing and reports what the rollback then does
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
      | create    | src/new.py  | NEW = 1      |
    And I take checkpoint "c2" of plan "plan-1"
    And the agent records step "s2" in the sandbox for plan "plan-1"
      | operation | path      | content |
      | delete    | README.md |         |
    And I roll plan "plan-1" back to checkpoint "c2" keeping the safety checkpoint as "S1"
    And the agent records step "s3" in the sandbox for plan "plan-1"
      | operation | path     | content |
      | create    | later.py | LATER   |
    And I record a failing tool call "s3-tests" without a changeset for plan "plan-1"
    And the sandbox gets, without a record
      | kind   | path        | content | mode |
      | file   | junk.txt    | junk    | 644  |
      | remove | cache/empty |         |      |
    And I note the state of plan "plan-1"
    When I roll plan "plan-1" back to checkpoint "c1" as a dry run
    Then plan "plan-1" is exactly as noted
    And the dry run would go back to "c1" writing "cache/empty/, src/main.py" and removing "cache/, junk.txt, later.py, src/new.py", marking 3 entries and 4 tool invocations
    When I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S2"
    Then the dry run reported exactly what the rollback did
    And the sandbox tree is exactly checkpoint "c1"'s

  Scenario: A checkpoint of another plan is refused and nothing is written
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
    And I take checkpoint "theirs" of plan "plan-2"
    And I note the state of plan "plan-1"
    When I try to roll plan "plan-1" back to checkpoint "theirs"
    Then it fails with ValueError
    And plan "plan-1" is exactly as noted

  Scenario: An unknown checkpoint is refused and nothing is written
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
    And I note the state of plan "plan-1"
    When I try to roll plan "plan-1" back to checkpoint "01HXYZ1234567890ABCDEFGHIJ"
    Then it fails with RecordNotFoundError
    And plan "plan-1" is exactly as noted

  Scenario: A checkpoint without a snapshot is refused and nothing is written
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And I create a manual checkpoint for plan "plan-1" with description "a note, no files"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
    And I note the state of plan "plan-1"
    When I try to roll plan "plan-1" back to the manual checkpoint
    Then it fails with ValueError
    And plan "plan-1" is exactly as noted

  Scenario: A reset refused for an ignored folder in the way writes nothing
    Given a rollback service whose checkpoint service excludes "*.log" with a size limit of 1000000 bytes
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
    And the sandbox gets, without a record
      | kind   | path            | content | mode |
      | remove | README.md       |         |      |
      | file   | README.md/x.log | a log   | 644  |
    And I note the state of plan "plan-1"
    When I try to roll plan "plan-1" back to checkpoint "c1"
    Then it fails with ValueError
    And plan "plan-1" is exactly as noted

  Scenario: Ignored files and files too large to store stay in the sandbox
    Given a rollback service whose checkpoint service excludes "*.log" with a size limit of 64 bytes
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
    And the sandbox gets, without a record
      | kind | path           | content                                                                          | mode |
      | file | run.log        | an ignored log line                                                              | 644  |
      | file | data/big.bin   | more than sixty-four bytes of data that no snapshot could store, so it stays put | 644  |
      | file | data/small.txt | small, stored, removed                                                           | 644  |
    When I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    Then the rollback went back to "c1" writing "src/main.py" and removing "data/small.txt"
    And the sandbox still holds "run.log"
    And the sandbox still holds "data/big.bin"
    And the sandbox has no "data/small.txt"

  Scenario Outline: A rollback service needs a store and a checkpoint service on one database
    When I try to build a rollback service with <parts>
    Then it fails with ValueError

    Examples:
      | parts                                              |
      | a checkpoint service on its own in-memory database |
      | a changeset store on a database of its own         |
      | no changeset store                                 |
      | a checkpoint repository instead of a service       |

  Scenario Outline: Bad arguments are refused before anything is written
    Given I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
    And I note the state of plan "plan-1"
    When I try to roll plan "plan-1" back with <call>
    Then it fails with ValueError
    And plan "plan-1" is exactly as noted

    Examples:
      | call                          |
      | an empty plan id              |
      | an empty checkpoint id        |
      | a sandbox that does not exist |
      | a file as the sandbox         |

  Scenario: A rollback marks tool invocations too, with or without a changeset
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I record a failing tool call "early-call" without a changeset for plan "plan-1"
    And I take checkpoint "c1" of plan "plan-1"
    And I record a failing tool call "lost-call" without a changeset for plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
    And I record a failing tool call "last-call" without a changeset for plan "plan-1"
    When I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    Then the rollback marked 1 entries and 3 tool invocations
    And every record made after checkpoint "c1" is marked by "S1" and every record before it is live
    And the records of steps "lost-call, last-call" are marked by "S1"

  Scenario: Another plan's records are left alone
    Given the agent records step "mine" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And I record a failing tool call "theirs-call" without a changeset for plan "plan-2"
    And the agent records step "later" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
    And the agent records step "theirs" in the sandbox for plan "plan-2"
      | operation | path     | content |
      | create    | other.py | OTHER   |
    When I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    Then the live records of plan "plan-1" are exactly those of steps "mine"
    And the live records of plan "plan-2" are exactly those of steps "theirs, theirs-call"
    And the rollback marked 1 entries and 1 tool invocations

  @persistent
  Scenario: A rollback made by a second process is read back by a third
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      | kind    |
      | modify    | src/main.py | print('two') |         |
      | create    | link        | ./src/       | symlink |
    And I record a failing tool call "s1-tests" without a changeset for plan "plan-1"
    And the sandbox gets, without a record
      | kind | path       | content | mode |
      | file | unseen.txt | unseen  | 600  |
    When a new process rolls plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    Then the sandbox tree is exactly checkpoint "c1"'s
    And checkpoint "S1" is the newest checkpoint of plan "plan-1", of type "pre_rollback", whose parent is "c1"
    And restoring checkpoint "S1" into a fresh folder gives the sandbox as it was just before the rollback
    And the rollback marked 2 entries and 3 tool invocations
    When a third process reads the marks of plan "plan-1"
    Then the third process saw every record made after checkpoint "c1" marked by "S1" and every record before it live

  @persistent
  Scenario: A store and a checkpoint service on separate session factories of one database work together
    Given the agent records step "s0" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('one') |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "s1" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('two') |
    When a store and a checkpoint service on separate session factories of one database roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    Then the sandbox tree is exactly checkpoint "c1"'s
    And every record made after checkpoint "c1" is marked by "S1" and every record before it is live
