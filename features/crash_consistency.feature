@persistent
Feature: Crash consistency: a writer killed at any point leaves all or nothing
  A writer process is killed with SIGKILL at random moments while it works, many
  times over. Afterwards the database is intact, every changeset batch and every
  checkpoint is either wholly there (with its manifest, content and diff
  metadata) or absent, and an interrupted apply is undone by the next apply's
  recovery. Each scenario counts both outcomes and fails unless it saw kills
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
