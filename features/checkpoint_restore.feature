Feature: Restoring, verifying and pruning checkpoints
  Any checkpoint can be verified and brought back byte for byte, on its own,
  without touching what the plan never saw, and old ones can be pruned.

  Background:
    Given a checkpoint service
    And a sandbox holding
      | path            | content          |
      | src/main.py     | print('hello')   |
      | src/util.py     | def util(): ...  |
      | README.md       | # project        |
    And I make "src/util.py" executable
    And the sandbox holds a symlink "link" to "src/main.py"
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I remember the sandbox tree as "first"
    And I change "src/main.py" to "print('changed')"
    And I delete "README.md"
    And I change "docs/guide.md" to "# guide"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And I remember the sandbox tree as "second"

  Scenario: Restoring an earlier checkpoint gives back its tree exactly
    When I restore checkpoint 1 into the sandbox
    Then the sandbox tree equals "first"
    And the sandbox has no folder "docs" left
    And the restore wrote "README.md, src/main.py" and removed "docs/guide.md"

  Scenario: Any checkpoint restores on its own into a fresh folder
    When I restore checkpoint 2 into a fresh folder
    Then the fresh folder tree equals "second"

  Scenario: A checkpoint's manifest read in columns holds the entries of its manifest
    Given I make the empty folder "empty/inside"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    And I create a manual checkpoint for plan "plan-1" with description "no files"
    Then every checkpoint's manifest read in columns equals its manifest, in path order

  Scenario: Files no checkpoint ever saw survive unless asked
    Given the user adds "notes/todo.txt" to the sandbox
    When I restore checkpoint 1 into the sandbox
    Then the sandbox still holds "notes/todo.txt"
    When I restore checkpoint 1 into the sandbox removing untracked files
    Then the sandbox tree equals "first"

  Scenario: A dry run changes nothing and reports what would change
    When I restore checkpoint 1 into the sandbox as a dry run
    Then the sandbox tree equals "second"
    And the restore would write "README.md, src/main.py" and remove "docs/guide.md"

  Scenario: A corrupted blob makes restore fail with nothing written, and verify false
    Given checkpoint 1 verifies
    When the stored content of "README.md" is corrupted
    Then checkpoint 1 does not verify
    When I try to restore checkpoint 1 into the sandbox
    Then it fails with IntegrityCheckError
    And the sandbox tree equals "second"

  Scenario: A blob missing from the store makes restore fail with nothing written, and verify false
    Given checkpoint 1 verifies
    When the stored content of "README.md" is removed from the store
    Then checkpoint 1 does not verify
    When I try to restore checkpoint 1 into the sandbox
    Then it fails with IntegrityCheckError
    And the error says "README.md"
    And the sandbox tree equals "second"

  Scenario: A changed folder's tree is stored as a delta of its previous version
    Then checkpoint 2's "src" tree is stored as a delta of checkpoint 1's
    And checkpoint 2's "" tree is stored as a delta of checkpoint 1's

  Scenario: A corrupted tree that a newer tree is a delta of fails both checkpoints
    When checkpoint 1's "src" tree is corrupted in the store
    Then checkpoint 2 does not verify
    And checkpoint 1 does not verify
    When I try to restore checkpoint 2 into a new folder
    Then it fails with IntegrityCheckError
    And the new folder does not exist

  Scenario: An in-place restore reads only the stored objects it needs
    A sandbox already in the checkpoint's state needs none of its trees (as git
    checkout of the current commit needs no object): verify is what checks them all.
    When checkpoint 1's "src" tree is corrupted in the store
    And I restore checkpoint 2 into the sandbox
    Then the sandbox tree equals "second"
    And checkpoint 2 does not verify

  Scenario Outline: A tree stored as <damage> fails verification and restore
    When checkpoint 2's "src" tree is stored as <damage>
    Then checkpoint 2 does not verify
    When I try to restore checkpoint 2 into a new folder
    Then it fails with IntegrityCheckError
    And the new folder does not exist

    Examples:
      | damage            |
      | a delta of itself |
      | a delta cut short |

  Scenario: Delta chains stay short, and every checkpoint restores after a prune
    When "src/main.py" is changed and snapshotted 20 more times
    Then every tree of the last checkpoint is at most 16 deltas deep
    When I prune plan "plan-1" keeping 1
    Then every remaining checkpoint verifies
    And no stored object is unreachable

  Scenario: Garbled stored bytes are caught too
    When the stored bytes of "README.md" are garbled
    Then checkpoint 1 does not verify
    When I try to restore checkpoint 1 into the sandbox
    Then it fails with IntegrityCheckError
    And the sandbox tree equals "second"

  Scenario: A damaged stored diff fails verification
    When the stored diff of checkpoint 2 is damaged
    Then checkpoint 2 does not verify
    And reading the diff of checkpoint 2 fails with IntegrityCheckError

  Scenario: A tampered diff hash fails verification
    When the stored diff hash of checkpoint 2 is tampered with
    Then checkpoint 2 does not verify

  Scenario Outline: A diff_paths that is not the stored diff's paths fails verification
    Given checkpoint 2 verifies
    When the diff_paths of checkpoint 2 are <damage>
    Then checkpoint 2 does not verify

    Examples:
      | damage                  |
      | missing their last path |
      | given one path more     |
      | in another order        |
      | not a list              |

  Scenario Outline: A stored diff that is not the bytes its hash was taken of fails verification
    When checkpoint 2's stored diff is <damage>
    Then checkpoint 2 does not verify

    Examples:
      | damage                                 |
      | rewritten without its last row         |
      | rewritten with spaces between its rows |

  Scenario: A symlinked parent in the target is never written through
    Given an outside folder for the restore
    And the sandbox's "src" is replaced by a symlink to the outside folder
    When I try to restore checkpoint 1 into the sandbox
    Then it fails with ValueError
    And the outside folder is still empty

  Scenario: A folder where a file should be is refused before anything is written
    Given the sandbox's "README.md" is a folder holding "keep.txt"
    When I try to restore checkpoint 1 into the sandbox
    Then it fails with ValueError
    And the sandbox still holds "README.md/keep.txt"

  Scenario: Excluded paths are never touched
    Given a checkpoint service excluding "docs" with a size limit of 1000000 bytes
    When I restore checkpoint 1 into the sandbox removing untracked files
    Then the sandbox still holds "docs/guide.md"

  Scenario: A checkpoint without a snapshot cannot be restored
    Given I create a manual checkpoint for plan "plan-1" with description "before refactor"
    When I try to restore checkpoint 3 into the sandbox
    Then it fails with ValueError
    And the sandbox tree equals "second"

  Scenario: A failed restore into a new folder leaves no folder behind
    When the stored bytes of "README.md" are garbled
    And I try to restore checkpoint 1 into a new folder
    Then it fails with IntegrityCheckError
    And the new folder does not exist

  Scenario: Restoring an unknown checkpoint is refused
    When I try to restore checkpoint "missing" into the sandbox
    Then it fails with RecordNotFoundError

  Scenario: Pruning keeps the newest checkpoints restorable and drops unreachable content
    Given I change "src/util.py" to "def util(): return 3"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    And I remember the sandbox tree as "third"
    When I prune plan "plan-1" keeping 2
    Then 1 checkpoint was pruned
    And the plan lists checkpoints 2 and 3
    And checkpoint 3's parent is checkpoint 2 and checkpoint 2's parent is gone
    And every remaining checkpoint verifies
    And restoring checkpoint 2 into a fresh folder gives "second"
    And restoring checkpoint 3 into a fresh folder gives "third"
    And no stored object is unreachable

  Scenario: Deleting a plan's checkpoints keeps other plans' shared content
    Given I snapshot the sandbox for plan "plan-2" before decision "d1"
    When I delete the checkpoints of plan "plan-1"
    Then 2 checkpoints were pruned
    And plan "plan-2"'s checkpoint still restores into a fresh folder as "second"
    And no stored object is unreachable

  Scenario Outline: Bad arguments are refused before anything happens
    When I try to call the checkpoint service with <call>
    Then it fails with <error>

    Examples:
      | call                                   | error           |
      | a snapshot of a missing folder         | ValueError      |
      | a snapshot with an empty plan id       | ValueError      |
      | a snapshot with an empty decision id   | ValueError      |
      | a prune keeping -1                     | ValueError      |
      | a prune keeping "two"                  | ValueError      |
      | a restore into a file                  | ValueError      |
      | a restore into a number                | ValueError      |
      | a verify of an unknown checkpoint      | RecordNotFoundError |
      | a size limit of -5                     | ValueError      |
      | excludes given as one string           | ValueError      |
      | watch given as "yes"                   | ValueError      |
      | a repository create of a string        | ValueError      |
      | a repository create with bad content   | ValueError      |
      | a repository manifest of an unknown id | RecordNotFoundError |
      | a repository create whose manifest is a string | ValueError |
      | a repository create whose diff holds a string  | ValueError |
      | a repository create whose blobs are a list     | ValueError |
      | a repository create whose blob is text         | ValueError |
      | a repository create whose stat cache is text   | ValueError |

  Scenario: Restoring after arbitrary edits gives back the exact tree (property)
    Then for random edit sequences every checkpoint restores byte-identically
