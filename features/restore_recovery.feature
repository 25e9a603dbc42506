Feature: What a restore that died mid-way leaves is undone or completed by the next operation
  A restore changes the folder under a journal (written whole, fsynced, before the
  first change) and writes a commit marker once every step is done. Here a restore
  dies at a chosen instant, as if killed: a forked child calls os._exit at the
  Nth call of one os function that changes the folder (no finally block runs).
  Whatever it left, the next restore, reset, rollback, snapshot, apply or recovery
  of the folder first undoes it (no commit marker, even when every step was
  taken) or completes it (a commit marker), removes the staging folder, and only then does its own work: it finds
  the old tree or the new one exactly (content, permission bits, symlink targets
  as bytes, empty folders, the set of paths), never a mix; a snapshot never
  stores a staging folder and a restore never lists one. The two states differ
  by every kind of step a restore takes: chmod, a path moved out, a folder
  removed, a folder made, a path moved in.

  Background:
    Given a sandbox of plan "plan-1" of 48 files with checkpoints "A" and "B" that differ by every kind of step
    And plan "apply-1" records creating "applied.txt" in a sandbox of its own
    And the sandbox is restored to "A"

  Scenario Outline: A restore that died at its <nth> os.<function> is undone by the next <operation>
    Given a restore of checkpoint "B" into the sandbox dies at its <nth> os.<function>
    Then the sandbox holds one staging folder, with a journal and no commit marker
    And outside it the sandbox is neither A nor B: some steps were taken
    When the next <operation> runs on the sandbox
    Then it found the sandbox exactly at "A", and neither listed nor stored a staging path
    And the sandbox is exactly "<after>" with no staging folder left

    Examples: the kill lands among the chmod, out, rmdir, mkdir and in steps
      | nth  | function | operation       | after                   |
      | 2nd  | chmod    | restore of "B"  | B                       |
      | 20th | replace  | snapshot        | A                       |
      | 3rd  | rmdir    | recovery        | A                       |
      | 2nd  | mkdir    | rollback to "B" | B                       |
      | 50th | replace  | apply           | A plus the applied file |
      | 60th | replace  | reset to "B"    | B                       |
      | 5th  | rmdir    | restore of "A"  | A                       |

  Scenario Outline: A restore that died after its last step but before its commit marker is undone by the next <operation>
    Given a restore of checkpoint "B" into the sandbox dies just before its commit marker
    Then the sandbox holds one staging folder, with a journal and no commit marker
    And outside it the sandbox is exactly "B"
    When the next <operation> runs on the sandbox
    Then it found the sandbox exactly at "A", and neither listed nor stored a staging path
    And the sandbox is exactly "<after>" with no staging folder left

    Examples:
      | operation      | after |
      | recovery       | A     |
      | restore of "B" | B     |
      | snapshot       | A     |

  Scenario Outline: A restore that died right after its commit marker stays complete; the next <operation> only removes its staging folder
    Given a restore of checkpoint "B" into the sandbox dies right after its commit marker
    Then the sandbox holds one staging folder, with a journal and a commit marker
    And outside it the sandbox is exactly "B"
    When the next <operation> runs on the sandbox
    Then it found the sandbox exactly at "B", and neither listed nor stored a staging path
    And the sandbox is exactly "<after>" with no staging folder left

    Examples:
      | operation       | after                   |
      | restore of "A"  | A                       |
      | snapshot        | B                       |
      | recovery        | B                       |
      | apply           | B plus the applied file |
      | rollback to "A" | A                       |

  Scenario Outline: A restore that died halfway through writing its journal changed nothing; the next <operation> removes its staging folder
    Given a restore of checkpoint "B" into the sandbox dies halfway through its journal
    Then the sandbox holds one staging folder, with half a journal only
    And outside it the sandbox is exactly "A"
    When the next <operation> runs on the sandbox
    Then it found the sandbox exactly at "A", and neither listed nor stored a staging path
    And the sandbox is exactly "<after>" with no staging folder left

    Examples:
      | operation      | after |
      | restore of "B" | B     |
      | snapshot       | A     |
      | recovery       | A     |
      | reset to "B"   | B     |

  Scenario Outline: A restore that died <death> changed nothing; the next <operation> removes its staging folder
    Given a restore of checkpoint "B" into the sandbox dies <death>
    Then the sandbox holds one staging folder, with no journal
    And outside it the sandbox is exactly "A"
    When the next <operation> runs on the sandbox
    Then it found the sandbox exactly at "A", and neither listed nor stored a staging path
    And the sandbox is exactly "<after>" with no staging folder left

    Examples:
      | death                           | operation      | after |
      | while making its staging folder | snapshot       | A     |
      | while making its staging folder | restore of "B" | B     |

  Scenario Outline: A restore that died while staging its 3rd file changed nothing; the next <operation> removes what it staged
    The journal is written before anything is staged, so the files staged beside
    their paths, and the new folders made first to stage files in, are known to the
    recovery, which removes them.
    Given a restore of checkpoint "B" into the sandbox dies while staging its 3rd file
    Then the sandbox holds one staging folder, with a journal and no staged marker
    And apart from the files staged beside their paths and the new folders made for them, the sandbox is exactly "A"
    When the next <operation> runs on the sandbox
    Then it found the sandbox exactly at "A", and neither listed nor stored a staging path
    And the sandbox is exactly "<after>" with no staging folder left

    Examples:
      | operation      | after                   |
      | snapshot       | A                       |
      | apply          | A plus the applied file |
      | restore of "B" | B                       |

  Scenario Outline: A staging folder an older version's restore left (<leftover>) is recovered by the next <operation>, never stored
    Given the sandbox holds a staging folder of an older version's restore, <leftover>
    When the next <operation> runs on the sandbox
    Then it found the sandbox exactly at "A", and neither listed nor stored a staging path
    And the sandbox is exactly "<after>" with no staging folder left

    Examples:
      | leftover                                                | operation      | after |
      | without a journal                                       | snapshot       | A     |
      | without a journal                                       | restore of "B" | B     |
      | whose old-format journal has 2 of its 3 swaps done      | snapshot       | A     |
      | whose old-format journal has 2 of its 3 swaps done      | restore of "B" | B     |
      | whose old-format journal has 3 of its 3 swaps done      | recovery       | A     |
      | whose old-format journal has 0 of its 3 swaps done      | rollback to "B" | B    |

  Scenario Outline: A staging folder of an earlier restore whose version-2 journal has <done> steps done is undone by the next <operation>
    Given the sandbox holds a staging folder of an earlier restore, whose version-2 journal has <done> of its 6 steps done
    When the next <operation> runs on the sandbox
    Then it found the sandbox exactly at "A", and neither listed nor stored a staging path
    And the sandbox is exactly "<after>" with no staging folder left

    Examples:
      | done | operation      | after |
      | 0    | snapshot       | A     |
      | 4    | restore of "B" | B     |
      | 6    | recovery       | A     |

  Scenario Outline: A recovery killed at its <rnth> os.<rfunction> runs again and brings back the tree exactly as it was
    Given the sandbox's folder "only-a" has mode 750
    And I remember the sandbox exactly as it is
    And a restore of checkpoint "B" into the sandbox dies at its <nth> os.<function>
    When a recovery of the sandbox dies at its <rnth> os.<rfunction>
    Then the sandbox holds one staging folder, with a journal and no commit marker
    And outside it the sandbox is neither A nor B: some steps were taken
    When the next <operation> runs on the sandbox
    Then the sandbox is exactly as remembered with no staging folder left

    Examples: the restore died among the "in" steps, then the recovery among its undo steps
      | nth  | function | rnth | rfunction | operation      |
      | 60th | replace  | 5th  | unlink    | recovery       |
      | 60th | replace  | 1st  | chmod     | recovery       |
      | 60th | replace  | 10th | rename    | snapshot       |
      | 6th  | rmdir    | 1st  | mkdir     | restore of "A" |
      | 3rd  | mkdir    | 2nd  | rmdir     | recovery       |
