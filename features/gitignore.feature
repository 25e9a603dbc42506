Feature: A snapshot leaves out what git ignores
  By default a snapshot leaves out what git would: every `.gitignore` in the
  sandbox applies at its own level (a deeper one overrides a shallower one), then
  `.git/info/exclude`, then the service's `excludes`, all in gitignore syntax
  (negation, anchoring, folder-only patterns, `**`, comments, escapes). As in
  git, nothing below an ignored folder can be re-included. git itself is the
  oracle: the snapshot's files and symlinks are exactly what
  `git ls-files --cached --others --exclude-standard` lists (empty folders,
  which git does not list, are left out of the comparison).

  Scenario Outline: A generated tree with nested rules is snapshotted as git lists it (seed <seed>)
    Given a git work tree generated from seed <seed>
    And a checkpoint service
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the snapshot holds exactly what git lists

    Examples:
      | seed |
      | 1    |
      | 2    |
      | 3    |

  Scenario: Rules changed between watched snapshots: a snapshot still holds what git lists
    Given a git work tree generated from seed 11
    And a checkpoint service
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I change files and rules below the top of the work tree
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the snapshot holds exactly what git lists
    And the snapshot did not walk the whole sandbox
    When I change files and rules below the top of the work tree
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the snapshot holds exactly what git lists
    When I change the top .gitignore and .git/info/exclude
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the snapshot holds exactly what git lists
    And the snapshot walked the whole sandbox
    When I change only .git/info/exclude
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the snapshot holds exactly what git lists
    And the snapshot walked the whole sandbox

  Scenario: With gitignore=False the .gitignore files are content only
    Given a git work tree generated from seed 5
    And a checkpoint service that reads no .gitignore
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the snapshot holds exactly what git lists without ignore rules

  Scenario: The excludes are gitignore patterns, below every .gitignore
    Given a git work tree generated from seed 6
    And a checkpoint service with the excludes
      | pattern      |
      | *.py         |
      | !main.py     |
      | /docs        |
      | src/**/*.c   |
      | node_modules/ |
      | !keep.log    |
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the snapshot holds exactly what git lists with the excludes as core.excludesFile

  Scenario: Negation and anchoring in the excludes
    Given a sandbox holding
      | path              | content |
      | app.py            | app     |
      | debug.log         | log     |
      | keep.log          | kept    |
      | build/out.o       | object  |
      | src/build/gen.py  | gen     |
      | src/cache/c.bin   | cached  |
      | lib/cache         | a file  |
    And a checkpoint service with the excludes
      | pattern  |
      | *.log    |
      | !keep.log |
      | /build   |
      | cache/   |
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the snapshot holds exactly "app.py, keep.log, lib/cache, src/build/gen.py"

  Scenario: Random small trees and rules agree with git
    Then random small trees and rules give what git lists

  Scenario Outline: Ignored paths survive "<restore>" untouched (<who>)
    Given a sandbox holding
      | path              | content   |
      | src/app.py        | v1        |
      | node_modules/x.js | module v1 |
      | debug.log         | log v1    |
    And the sandbox holds ".gitignore" with "node_modules/\n*.log\n"
    And a checkpoint service
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And the sandbox holds "src/app.py" with "v2"
    And the sandbox holds "src/new.py" with "new"
    And the sandbox holds "node_modules/x.js" with "module v2"
    And the sandbox holds "node_modules/y.js" with "module new"
    And the sandbox holds "debug.log" with "log v2"
    And the sandbox holds "src/trace.log" with "trace"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And the sandbox holds "node_modules/x.js" with "module v3"
    And <who>
    When I <restore>
    Then "src/app.py" still holds "v1"
    And the sandbox has no "src/new.py"
    And "node_modules/x.js" still holds "module v3"
    And "node_modules/y.js" still holds "module new"
    And "debug.log" still holds "log v2"
    And "src/trace.log" still holds "trace"

    Examples:
      | restore                                                      | who                                        |
      | restore checkpoint 1 into the sandbox removing untracked files | the same service watches the sandbox       |
      | reset the sandbox to checkpoint 1                            | the same service watches the sandbox       |
      | restore checkpoint 1 into the sandbox removing untracked files | a new checkpoint service                   |
      | reset the sandbox to checkpoint 1                            | a new checkpoint service                   |
