Feature: Small new files share a dictionary
  When a snapshot brings enough small new files that have no earlier version, a
  sample of their content becomes a dictionary (an object of kind "dict", stored
  whole, starting with its header line) and each of them is stored as a zstd delta
  of it, in the one delta format: 0x01, the dictionary's sha256, depth 1, then a
  zstd frame. A later snapshot with too few of them for a dictionary of its own
  packs them against the plan's last dictionary while it is stored. The stored
  bytes are checked raw, with SQL and the zstandard library.

  Background:
    Given a checkpoint service
    And a sandbox of 40 small source files that share their lines
    And the sandbox is snapshotted for plan "plan-1"

  Scenario: Small new files are deltas of one dictionary, smaller than alone, and restore exactly
    Then one dictionary is stored, whole, starting with its header and at most 262144 bytes
    And every file of the sandbox is stored as a delta of the dictionary, 1 deep
    And the files and the dictionary take less than 70% of the files' bytes stored alone
    And a stored file's hash finds its content, and the same hash in uppercase finds nothing
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: Files read again at the write share a dictionary too
    Given the scan keeps no file content in memory
    And a sandbox of 40 small source files that share their lines, in "more/"
    When the sandbox is snapshotted for plan "plan-1"
    Then 2 dictionaries are stored
    And every file of the sandbox is stored as a delta of a dictionary, 1 deep
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: A file's next version is a delta of its first, two deep
    When "src/mod_00.py" has one line edited and is snapshotted 1 more times
    Then the stored content of "src/mod_00.py" in checkpoint 2 is a delta of its content in checkpoint 1
    And every delta's recorded depth is its chain's length
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: The dictionary stays while a kept checkpoint needs one of its files, and goes with the last
    When every file but "src/mod_00.py" is deleted and the sandbox is snapshotted
    And I prune plan "plan-1" keeping 1
    Then 1 dictionary is stored
    And the bases of every stored delta are stored
    And no stored object is unreachable
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted
    When "src/mod_00.py" is deleted and the sandbox is snapshotted
    And I prune plan "plan-1" keeping 1
    Then 0 dictionaries are stored
    And no stored object is unreachable

  Scenario: A damaged dictionary fails verify and restore of every file packed against it
    When the stored dictionary is damaged in its zstd frame
    Then checkpoint 1 does not verify
    When I try to restore checkpoint 1 into a new folder
    Then it fails with IntegrityCheckError
    And the new folder does not exist

  Scenario: A damaged dictionary is no base for later files, and snapshots go on
    When the stored dictionary is damaged in its zstd frame
    And 3 small source files are added in "few/" and the sandbox is snapshotted
    Then the stored content of "few/mod_00.py" in checkpoint 2 is stored whole
    And checkpoint 1 does not verify

  Scenario: A dictionary holding other content than its hash is no base for later files
    When the stored dictionary is replaced by other content
    And 3 small source files are added in "few/" and the sandbox is snapshotted
    Then the stored content of "few/mod_00.py" in checkpoint 2 is stored whole
    And checkpoint 1 does not verify

  Scenario: A dictionary whose files another writer stored meanwhile is not kept
    When the last 30 of those files are snapshotted for plan "plan-2", by a writer that found none of them stored before its write
    Then 1 dictionary is stored
    And no stored object is unreachable

  Scenario: A few small new files later are deltas of the plan's dictionary
    When 3 small source files are added in "few/" and the sandbox is snapshotted
    Then 1 dictionary is stored
    And every file of "few/" is stored as a delta of the dictionary, 1 deep
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: After a restart the plan's dictionary is found down the delta chains of its newest files
    When "src/mod_00.py" has one line edited and is snapshotted 2 more times
    And the checkpoint service is started again on the same database
    And 3 small source files are added in "few/" and the sandbox is snapshotted
    Then 1 dictionary is stored
    And every file of "few/" is stored as a delta of the dictionary, 1 deep
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: After a restart, a plan whose files descend from no dictionary stores a few small new files alone
    When 3 small source files in "solo/" are snapshotted for plan "plan-2" in a sandbox of its own
    And the checkpoint service is started again on the same database
    And 3 small source files in "more/" are snapshotted for plan "plan-2" in a sandbox of its own
    Then 1 dictionary is stored
    And every file of plan "plan-2" is stored whole

  Scenario: After a restart, a damaged newest diff leaves a few small new files alone and is reported by verify
    When the stored diff of checkpoint 1 is damaged
    And the checkpoint service is started again on the same database
    And 3 small source files are added in "few/" and the sandbox is snapshotted
    Then the stored content of "few/mod_00.py" in checkpoint 2 is stored whole
    And checkpoint 1 does not verify

  Scenario: A few small new files are stored alone once the plan's dictionary is gone
    When every file is deleted and the sandbox is snapshotted
    And I prune plan "plan-1" keeping 1
    And 3 small source files are added in "few/" and the sandbox is snapshotted
    Then 0 dictionaries are stored
    And the stored content of "few/mod_00.py" in checkpoint 3 is stored whole
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: A few small new files are stored alone when the dictionary is collected before their write
    When every file is deleted and the sandbox is snapshotted
    And 3 small source files are added in "few/" and snapshotted, while plan "plan-1" is pruned keeping 1 after they are packed
    Then 0 dictionaries are stored
    And the stored content of "few/mod_00.py" in checkpoint 3 is stored whole
    And the bases of every stored delta are stored
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted

  Scenario: Incompressible files left out of the dictionary's sample are stored whole
    Given a sandbox of 12 files of 40000 random bytes each
    When the sandbox is snapshotted for plan "plan-1"
    Then 2 dictionaries are stored
    And the files of "media/" in a dictionary are deltas of it and the others are stored whole
    And every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted
