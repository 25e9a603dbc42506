@persistent
Feature: Crash consistency: a writer killed at any point leaves all or nothing
  A writer process is killed with SIGKILL at random moments while it works, many
  times over. Afterwards the database is intact, every changeset batch and every
  checkpoint is either wholly there (with its manifest, content and diff
  metadata) or absent, and an interrupted apply is undone by the next apply's
  recovery, and an interrupted restore by whatever operation comes next on its
  folder. Each scenario counts both outcomes and fails unless it saw kills
  inside the transaction (all absent) as well as after it (all present).

  Scenario: record_many killed 50 times
    When a writer doing record_many of 1500 entries is killed 50 times
    Then the database passes its integrity check
    And every batch is either complete or absent
    And the kills landed both inside and after the transaction

  Scenario: Checkpoint creation killed 50 times
    When a writer taking workspace snapshots is killed 50 times
    Then the database passes its integrity check
    And every checkpoint is complete, verified and carries its diff metadata
    And the kills landed both inside and after the transaction

  Scenario: apply killed 50 times
    When a writer applying plans is killed 50 times
    Then every interrupted target is back as it was before, or wholly applied
    And the kills landed both inside and after the transaction

  Scenario: restore killed 50 times
    Given a sandbox of plan "restore-crash" of 300 files with checkpoints "A" and "B" that differ by every kind of step
    When a writer restoring the sandbox in place, alternately to "A" and "B", is killed 50 times, each kill repaired by the next restore, recovery, snapshot, rollback or reset in turn
    Then every repair found the tree the interrupted restore started from or the one it was making, never a mix
    And after every repair the sandbox was exactly A or exactly B, with no staging folder left
    And no snapshot right after a kill stored a staging path, and each stored A or B exactly
    And no restore right after a kill listed a staging path as written or removed
    And the repairs found interrupted restores both undone and completed
    And some kills left a staging folder that the repair recovered, some of them mid-swap
    And each kind of repair ran at least 10 times
