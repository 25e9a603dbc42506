@unit
Feature: Pure logic, without a database: codecs, tree index, terms, marks, redaction
  The fast tier (nox -s quick) runs these in milliseconds each. No scenario here
  opens a database; each one checks a rule the stores rely on, against an
  independent oracle where one exists (a fresh build, a brute-force scan, a
  recomputation by hand).

  Scenario: An object packs whole or as a delta of its base, and unpacks to the same bytes
    Then packing and unpacking random objects gives them back, deltas included
    And a delta of similar content is smaller than the content packed whole
    And content above the large-object cap, or a base that deep or that large, packs whole
    And packed objects of very compressible content hold memory of their packed size
    And remembered recent content stays within its bound, the least recently used forgotten first

  Scenario Outline: A damaged chain of stored objects is refused with IntegrityCheckError
    Then unpacking <damage> raises IntegrityCheckError

    Examples:
      | damage                          |
      | a delta whose base is missing   |
      | a delta of itself               |
      | a delta cut short               |
      | a whole object cut short        |
      | bytes that are not zlib         |

  Scenario: A stored diff decodes to the diff that was encoded, and garbage is refused
    Then encoding and decoding random diffs gives them back with the same diff hash
    And decoding bytes that are not a stored diff raises IntegrityCheckError

  Scenario: A stored diff is read back a row at a time, whatever the pieces' boundaries
    Then the rows of random diffs read in random pieces are the rows of their canonical form
    And the pieces of a stored diff hash to its diff hash, and a damaged one is refused
    And reading bytes that are not canonical diff rows raises ValueError

  Scenario: A large stored object is decompressed a piece at a time
    Then unpacking random objects in pieces gives them back, zstd and legacy zlib alike
    And unpacking deltas in pieces, given their base, gives them back, zstd and legacy zlib alike
    And unpacking a damaged object in pieces raises IntegrityCheckError

  Scenario: The canonical diff form is what the documentation says, byte for byte
    Then the canonical form of a diff with a file, a symlink, an empty folder and a deletion is
      """
      [["a.txt","1111111111111111111111111111111111111111111111111111111111111111","file",420],["d/",null],["empty/","4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945","dir",null],["link","2222222222222222222222222222222222222222222222222222222222222222","symlink",null]]
      """
    And a diff read from a checkpoint made before kinds were recorded hashes as it did then

  Scenario: A tree index built from a manifest holds the trees encoded folder by folder
    Then the tree index of random manifests equals encoding every folder by hand
    And a manifest listing a path twice, or an empty folder that holds a file, is refused

  Scenario: Every occurrence of a pattern's text in a context hits one of its anchors
    Then for random pattern texts inside random contexts, a text anchor is among the probes

  Scenario: Which records were live at a checkpoint follows the rollbacks before it
    Then the live ranges of these histories are
      | history                                    | entries live           |
      | no rollback, mark 5                        | 1,2,3,4,5              |
      | rolled back to mark 2 at 5, then mark 7    | 1,2,6,7                |
      | as above, then back to mark 5 at 7, mark 9 | 1,2,3,4,5,8,9          |

  Scenario: A plan's entries net to one final state per path, and contradictions are refused
    Then simulating create, modify, rename and delete entries gives each path's net change
    And an entry that expects what the plan's earlier entries did not leave is refused

  Scenario: Secrets are redacted anywhere in nested data, and other values are kept
    Then redacting random nested data never leaves a value under a secret key

  Scenario: The application reaches the sandbox only through its workspace ports
    Then no module of the application imports the file-system workspace
    And a plan apply service handed a workspace recovers a folder through it
    And a service handed no workspace gets the local one from the composition root

  Scenario: A progress stage reports its first call, at most one per 50 ms, and its last
    Then a stage of 10000 items done 1 ms apart reports 201 times, 50 ms apart, the last with done 10000
    And a walk's stage gives its count as the total of its last report
    And a stage with nothing to do, or without a callback, reports nothing
    And a progress that is neither callable nor None is refused with ValueError

  Scenario: A manifest held in columns answers as a dict of its entries would
    Then a manifest in columns of random entries, in any order, answers every lookup as a dict does
    And a manifest in columns refuses a path listed twice
    And content hashes packed and handed out in windows come back sorted, each once
    And packing a value that is not a content hash raises ValueError

  Scenario: A layer's screen says a rule may match exactly when one of its rules matches
    Then for random patterns and paths, a layer's screen may match exactly when one of its rules does
    And a layer whose expressions cannot be joined has no screen, and its rules still decide

  Scenario: The object key type keeps lowercase hex in Python and raw bytes in the database
    Then a lowercase sha256 hex binds as its 32 raw bytes and reads back as the same hex
    And uppercase, short, long and non-hex keys bind as empty bytes, which no key is
    And no key binds and reads as no key

  Scenario: A dictionary holds at most 256 KiB: a sampled file that would not fit is left out
    When 10 small new files alternating 60000 and 1000 bytes are compressed together
    Then one dictionary of at most 262144 bytes is added, holding 4 of the sampled files
    And every file is a delta of it and unpacks to its bytes
