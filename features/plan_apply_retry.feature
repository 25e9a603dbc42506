Feature: An apply that can be retried
  A path whose target already holds the plan's final state (content, kind and
  permission bits) counts as already applied, not as a conflict: applying an
  applied plan again is a success that writes nothing. A change of permission
  bits alone is applied and listed under modes; symlink entries are applied as
  symlinks with their exact target. A real conflict still fails the whole apply,
  names every conflicting path with the hash expected and found, and cleans up.

  Background:
    Given a changeset store
    And a target folder holding
      | path        | content             | mode |
      | src/main.py | print('old')        | 644  |
      | src/util.py | def util(): ...     | 644  |
      | docs/old.md | # old docs          | 644  |
      | lib/a.py    | A = 1               | 644  |
      | bin/run.sh  | #!/bin/sh\necho run | 755  |
      | keep.txt    | untouched           | 600  |
    And a sandbox copied from the target

  Scenario: Applying an applied plan again writes nothing, succeeds and keeps the records
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path          | content             | old_path | kind    | mode | before_mode | after_mode |
      | modify    | src/main.py   | print('new')        |          |         |      |             |            |
      | create    | src/new.py    | NEW = True          |          |         | 640  |             | 640        |
      | create    | pkg/deep/x.py | X = 1               |          |         |      |             |            |
      | delete    | docs/old.md   |                     |          |         |      |             |            |
      | rename    | lib/b.py      | A = 1               | lib/a.py |         |      |             |            |
      | modify    | bin/run.sh    | #!/bin/sh\necho run |          |         | 644  | 755         | 644        |
      | create    | certs/ca      | ../../expired/ca/   |          | symlink |      |             |            |
    When I apply plan "plan-1"
    Then the target tree equals the sandbox tree
    And the apply result lists written "certs/ca, pkg/deep/x.py, src/main.py, src/new.py", deleted "docs/old.md", renamed "lib/a.py -> lib/b.py"
    And the apply result lists modes "bin/run.sh" and already applied ""
    When I count the records of plan "plan-1" with SQL
    And I note the target's files with their inodes and times
    And I apply plan "plan-1"
    Then the apply result lists written "", deleted "", renamed ""
    And the apply result lists modes "" and already applied "bin/run.sh, certs/ca, docs/old.md, lib/a.py, lib/b.py, pkg/deep/x.py, src/main.py, src/new.py"
    And of the target, only "" were touched
    And the target tree equals the sandbox tree
    And plan "plan-1" still has the records counted
    And the entries of plan "plan-1" read back exactly as recorded, kinds and modes included

  Scenario: A partly applied target gets the rest, and the rest only
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path        | content       |
      | modify    | src/main.py | print('new')  |
      | modify    | src/util.py | def util(): 2 |
      | create    | src/new.py  | NEW = True    |
      | delete    | docs/old.md |               |
      | delete    | keep.txt    |               |
    And the target already holds the sandbox's "src/main.py, docs/old.md, src/new.py"
    When I note the target's files with their inodes and times
    And I apply plan "plan-1"
    Then the apply result lists written "src/util.py", deleted "keep.txt", renamed ""
    And the apply result lists modes "" and already applied "docs/old.md, src/main.py, src/new.py"
    And of the target, only "src/util.py, keep.txt" were touched
    And the target tree equals the sandbox tree

  Scenario Outline: Permission bits: <case>
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path   | content   | mode   | before_mode | after_mode |
      | modify    | <path> | <content> | <mode> | <before>    | <after>    |
    When I apply plan "plan-1"
    Then the apply result lists written "<written>", deleted "", renamed ""
    And the apply result lists modes "<modes>" and already applied ""
    And the target file "<path>" has mode <final>
    And the target tree equals the sandbox tree
    When I apply plan "plan-1"
    Then the apply result lists modes "" and already applied "<path>"

    Examples:
      | case                                            | path        | content             | mode | before | after | written     | modes      | final |
      | the executable bit alone, as in psf/requests    | bin/run.sh  | #!/bin/sh\necho run | 644  | 755    | 644   |             | bin/run.sh | 644   |
      | a mode alone, not recorded after: the sandbox's | bin/run.sh  | #!/bin/sh\necho run | 700  | 755    |       |             | bin/run.sh | 700   |
      | content and mode together write the new mode    | src/main.py | print('new')        | 755  | 644    | 755   | src/main.py |            | 755   |
      | a private file stays private                    | keep.txt    | still mine          | 600  | 600    | 600   | keep.txt    |            | 600   |
      | the setuid bit is carried                       | bin/run.sh  | #!/bin/sh\necho run | 4751 | 755    | 4751  |             | bin/run.sh | 4751  |

  Scenario: Symlink entries are applied as symlinks with their exact target
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path                | content           | kind    |
      | create    | tests/certs/mtls/ca | ../../expired/ca/ | symlink |
      | create    | here                | ./src/            | symlink |
      | create    | twice               | src//main.py      | symlink |
      | modify    | keep.txt            | lib/a.py          | symlink |
    When I apply plan "plan-1"
    Then the target holds a symlink "tests/certs/mtls/ca" to "../../expired/ca/"
    And the target holds a symlink "here" to "./src/"
    And the target holds a symlink "twice" to "src//main.py"
    And the target holds a symlink "keep.txt" to "lib/a.py"
    And the apply result lists written "here, keep.txt, tests/certs/mtls/ca, twice", deleted "", renamed ""
    And the target tree equals the sandbox tree
    And the entries of plan "plan-1" read back exactly as recorded, kinds and modes included

  Scenario: A link re-pointed from "d/" to "./d" is a change that apply carries over
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path | content | kind    |
      | create    | link | d/      | symlink |
    When I apply plan "plan-1"
    Then the target holds a symlink "link" to "d/"
    Given the agent records in the sandbox for plan "plan-2"
      | operation | path | content | kind    |
      | modify    | link | ./d     | symlink |
    When I apply plan "plan-2"
    Then the target holds a symlink "link" to "./d"
    And the apply result lists written "link", deleted "", renamed ""

  Scenario: A file replaced by a symlink, and back, through two plans
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path        | content | kind    |
      | modify    | src/main.py | util.py | symlink |
    When I apply plan "plan-1"
    Then the target holds a symlink "src/main.py" to "util.py"
    And the target tree equals the sandbox tree
    Given the agent records in the sandbox for plan "plan-2"
      | operation | path        | content       | mode | after_mode |
      | modify    | src/main.py | print('back') | 640  | 640        |
    When I apply plan "plan-2"
    Then the target file "src/main.py" is a regular file holding "print('back')" with mode 640
    And the apply result lists written "src/main.py", deleted "", renamed ""
    And the target tree equals the sandbox tree

  Scenario: A real conflict names every conflicting path, cleans up and leaves the target alone
    Given the agent records in the sandbox for plan "plan-1"
      | operation | path        | content       |
      | modify    | src/main.py | print('new')  |
      | modify    | src/util.py | def util(): 2 |
      | delete    | docs/old.md |               |
      | create    | src/new.py  | NEW = True    |
      | modify    | lib/a.py    | A = 2         |
    And the target file "src/util.py" is changed to "def util(): 3"
    And the target file "docs/old.md" is changed to "# edited by a human"
    And the target file "src/new.py" is changed to "NEW = 'theirs'"
    And the target file "lib/a.py" is removed
    And I count the records of plan "plan-1" with SQL
    When I try to apply plan "plan-1"
    Then it fails with ApplyError
    And the apply error lists the conflicts
      | path        | expected        | found               |
      | docs/old.md | # old docs      | # edited by a human |
      | lib/a.py    | A = 1           | <nothing>           |
      | src/new.py  | <nothing>       | NEW = 'theirs'      |
      | src/util.py | def util(): ... | def util(): 3       |
    And the apply error says its cleanup deleted the records counted
    And the target tree is exactly as before
    And plan "plan-1" has no changeset artifacts left

  Scenario: Rolled-back entries are left out of apply
    Given a checkpoint service
    And a rollback service
    And the agent records step "good" in the sandbox for plan "plan-1"
      | operation | path        | content      |
      | modify    | src/main.py | print('new') |
    And I take checkpoint "c1" of plan "plan-1"
    And the agent records step "bad" in the sandbox for plan "plan-1"
      | operation | path        | content       |
      | delete    | keep.txt    |               |
      | modify    | src/util.py | def util(): 9 |
    And the target file "keep.txt" is changed to "a human edited this"
    And I roll plan "plan-1" back to checkpoint "c1" keeping the safety checkpoint as "S1"
    When I apply plan "plan-1"
    Then the apply result lists written "src/main.py", deleted "", renamed ""
    And the target holds the sandbox's "src/main.py" and is otherwise as before
    And the records of steps "bad" are marked by "S1"

  Scenario Outline: Kinds and modes that cannot be: <entry>
    When I try to build a <operation> <kind> entry with before_mode <before> and after_mode <after>
    Then it <outcome>

    Examples:
      | entry                         | operation | kind    | before | after | outcome                    |
      | a symlink with an after mode  | create    | symlink | none   | 644   | fails with ValidationError |
      | a symlink with a before mode  | modify    | symlink | 644    | none  | fails with ValidationError |
      | a create with a before mode   | create    | file    | 644    | 644   | fails with ValidationError |
      | a delete with an after mode   | delete    | file    | 644    | 644   | fails with ValidationError |
      | a mode above 0o7777           | modify    | file    | 644    | 10000 | fails with ValidationError |
      | a negative mode               | modify    | file    | -1     | 644   | fails with ValidationError |
      | a bool as after mode          | modify    | file    | 644    | true  | fails with ValidationError |
      | a bool as before mode         | delete    | file    | false  | none  | fails with ValidationError |
      | an unknown kind               | create    | folder  | none   | none  | fails with ValidationError |
      | a symlink without modes       | modify    | symlink | none   | none  | succeeds                   |
      | a mode change                 | modify    | file    | 755    | 644   | succeeds                   |
      | every bit                     | modify    | file    | 0      | 7777  | succeeds                   |
      | a delete with its before mode | delete    | file    | 600    | none  | succeeds                   |

  Scenario Outline: Recording <what> with rolled_back_by set is refused and writes nothing
    Given a started changeset "A" for plan "plan-1"
    When I try to record, with rolled_back_by set, <what>
    Then it fails with ValueError
    And the database holds 0 changeset entries
    And the database holds 0 tool invocations

    Examples:
      | what                                     |
      | an entry through the store               |
      | a batch through the store                |
      | an entry through the entry repository    |
      | a batch through the entry repository     |
      | a tool invocation through the store      |
      | a tool invocation through its repository |
      | a tool invocation without a changeset    |
