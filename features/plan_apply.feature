Feature: Applying and cleaning up a plan
  PlanApplyService promotes a plan's recorded changes from its sandbox to a
  target, all or nothing; on any failure the target is left byte-for-byte as it
  was and the plan's changeset artifacts are cleaned up.

  Background:
    Given a changeset store
    And a target folder holding
      | path          | content          |
      | src/main.py   | print('old')     |
      | src/util.py   | def util(): ...  |
      | docs/old.md   | # old docs       |
      | lib/a.py      | A = 1            |
      | keep.txt      | untouched        |
    And a sandbox copied from the target

  Scenario: A plan's changes are applied to the target
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        | old_path |
      | modify    | src/main.py  | print('new')   |          |
      | create    | src/new.py   | NEW = True     |          |
      | create    | pkg/deep/x.py | X = 1         |          |
      | delete    | docs/old.md  |                |          |
      | rename    | lib/b.py     | A = 1          | lib/a.py |
    When I apply plan "plan-1"
    Then the target tree equals the sandbox tree
    And the apply result lists written "pkg/deep/x.py, src/main.py, src/new.py", deleted "docs/old.md", renamed "lib/a.py -> lib/b.py"

  Scenario: Several changes of one file apply as their net effect
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | modify    | src/main.py  | print('one')   |
      | modify    | src/main.py  | print('two')   |
      | create    | tmp.txt      | scratch        |
      | delete    | tmp.txt      |                |
    When I apply plan "plan-1"
    Then the target tree equals the sandbox tree
    And the apply result lists written "src/main.py", deleted "", renamed ""

  Scenario: The executable bit is carried over
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path        | content          | mode |
      | create    | run.sh      | #!/bin/sh\necho  | 755  |
    When I apply plan "plan-1"
    Then the target file "run.sh" has mode 755

  Scenario: Sandbox content that does not match the recorded hash fails the apply
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | create    | src/new.py   | NEW = True     |
      | modify    | src/main.py  | print('new')   |
    And the sandbox file "src/main.py" is changed to "print('tampered')" behind the plan's back
    When I try to apply plan "plan-1"
    Then it fails with ApplyError
    And the target tree is exactly as before
    And plan "plan-1" has no changeset artifacts left

  Scenario: A target changed behind the plan's back fails the apply
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | modify    | src/util.py  | def util(): 2  |
    And the target file "src/util.py" is changed to "def util(): 3"
    When I try to apply plan "plan-1"
    Then it fails with ApplyError
    And the target tree is exactly as before
    And plan "plan-1" has no changeset artifacts left

  Scenario: A file created by the plan that already exists in the target fails the apply
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | create    | keep.txt2    | x              |
    And the target file "keep.txt2" is changed to "someone else's"
    When I try to apply plan "plan-1"
    Then it fails with ApplyError
    And the target tree is exactly as before

  Scenario: An unreadable sandbox file fails the apply
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | create    | src/new.py   | NEW = True     |
      | modify    | src/main.py  | print('new')   |
    And the sandbox file "src/new.py" is replaced by a folder
    When I try to apply plan "plan-1"
    Then it fails with ApplyError
    And the target tree is exactly as before
    And plan "plan-1" has no changeset artifacts left

  Scenario: A missing sandbox file fails the apply
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | modify    | src/main.py  | print('new')   |
    And the sandbox file "src/main.py" is removed
    When I try to apply plan "plan-1"
    Then it fails with ApplyError
    And the target tree is exactly as before
    And plan "plan-1" has no changeset artifacts left

  Scenario: A path that would leave the target through a symlink fails the apply
    Given an outside folder
    And the target holds a symlink "escape" to the outside folder
    And the agent records in the sandbox for plan "plan-1"
      | operation | path           | content  |
      | create    | escape/evil.sh | pwned    |
    When I try to apply plan "plan-1"
    Then it fails with ApplyError
    And the outside folder is empty
    And the target tree is exactly as before
    And plan "plan-1" has no changeset artifacts left

  Scenario: A failure while files are being swapped in rolls back every step
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | modify    | src/main.py  | print('new')   |
      | create    | new/dir/a.py | A = 2          |
      | delete    | docs/old.md  |                |
      | modify    | src/util.py  | def util(): 2  |
    And the file system fails on the 4th file move
    When I try to apply plan "plan-1"
    Then it fails with ApplyError
    And the target tree is exactly as before
    And plan "plan-1" has no changeset artifacts left

  @persistent
  Scenario: An apply killed while writing its swap journal is undone by the next apply
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | modify    | src/main.py  | print('new')   |
      | create    | new/dir/a.py | A = 2          |
      | delete    | docs/old.md  |                |
    When an apply of plan "plan-1" is killed halfway through writing its swap journal
    Then the target holds an abandoned staging folder and no other change
    When I apply plan "plan-1"
    Then the target tree equals the sandbox tree

  Scenario: A folder in the target where the plan expects a file fails the apply
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | create    | src/new.py   | NEW = True     |
    And the target holds a folder "src/new.py"
    When I try to apply plan "plan-1"
    Then it fails with ApplyError
    And the target tree is exactly as before
    And plan "plan-1" has no changeset artifacts left

  Scenario: Applying a plan with nothing recorded is refused
    When I try to apply plan "nothing-here"
    Then it fails with RecordNotFoundError
    And the target tree is exactly as before

  Scenario: Apply refuses arguments that are not folders
    When I try to apply plan "plan-1" from a sandbox that does not exist
    Then it fails with ValueError
    When I try to apply plan "plan-1" from a sandbox given as a number
    Then it fails with ValueError

  Scenario: Cancelling a plan cleans up its artifacts
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path         | content        |
      | modify    | src/main.py  | print('new')   |
      | create    | src/new.py   | NEW = True     |
    When I cancel plan "plan-1"
    Then the cleanup count is 5
    And plan "plan-1" has no changeset artifacts left
    And cleaning up plan "plan-1" again counts 0

  Scenario Outline: Cleanup refuses bad plan ids
    When I try to clean up plan <value>
    Then it fails with ValueError

    Examples:
      | value    |
      | empty    |
      | blank    |
      | None     |
      | too long |

  Scenario: The service refuses a missing store
    When I try to build a PlanApplyService without a store
    Then it fails with ValueError
