Feature: Snapshot content in bounded batches, large files in chunks
  A snapshot's new content goes to the database a bounded batch at a time inside
  its one transaction, read again from the sandbox and checked against the hash
  its scan recorded. Content above the chunk size is stored without deltas as a
  list of chunks; restore and verify read it back a chunk at a time. Small sizes
  are set through the repository's content limits so the scenarios stay fast.

  Background:
    Given a checkpoint service storing content in batches of 4096 bytes and chunks of 1024 bytes
    And a sandbox of 24 files of random bytes and "assets/big.bin" of 10000 random bytes

  Scenario: A file above the chunk size is stored in chunks, restores exactly and verifies
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then "assets/big.bin" is stored as a chunk list of 10 chunks of at most 1024 bytes
    And every stored object's bytes match its hash
    And the last checkpoint verifies
    When I restore the last checkpoint into a new folder
    Then the new folder holds exactly the files of the sandbox

  Scenario: A second path with the same large content is restored from the same chunks
    Given "copy/big-again.bin" holds the same bytes as "assets/big.bin"
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I restore the last checkpoint into a new folder
    Then the new folder holds exactly the files of the sandbox
    And "assets/big.bin" is stored as a chunk list of 10 chunks of at most 1024 bytes

  Scenario: A damaged chunk is reported by verify and refused by restore
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When one chunk of "assets/big.bin" is overwritten in the database
    Then the last checkpoint does not verify
    And restoring the last checkpoint into a new folder fails with an integrity error and leaves no folder

  Scenario: A missing chunk is reported by verify
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When one chunk of "assets/big.bin" is deleted from the database
    Then the last checkpoint does not verify

  Scenario: A file modified between its scan and its store is never stored with the wrong hash
    Given the scan keeps no file content in memory
    And "f03.bin" is rewritten after its scan, once
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the manifest's hash of "f03.bin" is the sha256 of its content now
    And every stored object's bytes match its hash
    And the plan has 1 checkpoint

  Scenario: A file deleted between its scan and its store is left out by the snapshot taken again
    Given the scan keeps no file content in memory
    And "f05.bin" is deleted after its scan
    When I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the last checkpoint's manifest lacks "f05.bin" and holds "f04.bin"
    And every stored object's bytes match its hash

  Scenario: A damaged chunk list is reported by verify
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When the chunk list of "assets/big.bin" is overwritten with "not a list" in the database
    Then the last checkpoint does not verify

  Scenario: Bad content limits and bad content sources are refused before anything is written
    Then a repository with content limits "8 MiB" is refused
    And a checkpoint whose content maps a hash to "bytes, not a source" is refused
    And the database holds no checkpoint and no stored object

  Scenario: A file rewritten after every scan fails the snapshot and nothing is written
    Given the scan keeps no file content in memory
    And "f03.bin" is rewritten after every scan
    When I attempt a snapshot of the sandbox for plan "plan-1"
    Then the snapshot failed because content changed since its scan
    And the database holds no checkpoint and no stored object

  Scenario: More new content than one batch is written as ONE checkpoint in one transaction
    Given the scan keeps no file content in memory
    And the repository is wrapped by a spy
    When I snapshot the sandbox for plan "plan-1" before decision "d1" counting the inserts of content
    Then the content went in more than 2 inserts
    And the spy saw exactly 1 write call and it was create
    And the plan has 1 checkpoint
    And every stored object's bytes match its hash

  Scenario: A failure after the last batch leaves nothing: no checkpoint, no objects
    Given the scan keeps no file content in memory
    And the write fails right after the last batch of content
    When I attempt a snapshot of the sandbox for plan "plan-1"
    Then the database holds no checkpoint and no stored object

  Scenario: Content given in memory above the chunk size is chunked too
    When a checkpoint is created directly with 5000 bytes of content in memory
    Then that content is stored as a chunk list of 5 chunks of at most 1024 bytes
    And reading that content back gives the same bytes

  Scenario: A prune frees a large file's chunks, and counts them in the bytes it frees
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I delete "assets/big.bin"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I measure the stored bytes and prune plan "plan-1" to 1 stored byte
    Then the prune removed 1 checkpoint and freed exactly the stored bytes that went away
    And no chunk of the large file is stored any more
    And the last checkpoint verifies

  Scenario: Content limits refuse sizes below one byte
    Then content limits of batch 0 bytes are refused
    And content limits of chunk size -1 bytes are refused
