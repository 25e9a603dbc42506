Feature: Watching the sandbox between snapshots
  A checkpoint service watches each sandbox it snapshots (inotify on Linux), so
  the plan's next snapshot looks again only at what changed, like git's
  fsmonitor. Whenever the watcher cannot vouch for the tree, the snapshot walks
  it whole. Either way a snapshot is exactly what a full walk finds.

  Background:
    Given a checkpoint service
    And a sandbox holding
      | path          | content         |
      | src/main.py   | print('hello')  |
      | src/util.py   | def util(): ... |
      | docs/guide.md | # guide         |
      | README.md     | # project       |

  Scenario Outline: The next snapshot sees "<change>" and walks <walked>
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I make the change "<change>" in the sandbox
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the diff paths are "<diff>"
    And the snapshot walked <walked>
    And the last snapshot lists what a full walk of the sandbox finds

    Examples:
      | change                                 | diff                                   | walked            |
      | write src/main.py                      | src/main.py                            | nothing           |
      | delete README.md                       | README.md                              | nothing           |
      | make src/main.py executable            | src/main.py                            | nothing           |
      | rename README.md to READ.md            | READ.md, README.md                     | nothing           |
      | link src/main.py to README.md          | src/main.py                            | nothing           |
      | create docs/new/a.md and docs/new/s/b.md | docs/new/a.md, docs/new/s/b.md       | "docs/new"        |
      | delete the folder src                  | src/main.py, src/util.py               | nothing           |
      | replace the folder docs by a file      | docs, docs/guide.md                    | nothing           |
      | replace src/util.py by a folder        | src/util.py, src/util.py/x.md          | "src/util.py"     |
      | rename the folder docs to manual       | docs/guide.md, manual/guide.md         | the whole sandbox |
      | write .git/config                      |                                        | nothing           |
      | move the sandbox away and back         |                                        | the whole sandbox |
      | create a\b.txt                           |                                        | nothing           |
      | create a file with a name not in UTF-8 |                                        | nothing           |
      | create a folder with a name not in UTF-8 |                                      | nothing           |
      | replace the folder docs by a link to src | docs, docs/guide.md                  | nothing           |

  Scenario: More changes than the kernel's event queue holds make the next snapshot walk everything
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I create more files in "src" than the kernel's inotify queue holds events
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the snapshot walked the whole sandbox
    And the last snapshot lists what a full walk of the sandbox finds

  Scenario: A write through a hard link outside the sandbox is seen
    Given the sandbox's "shared.txt" is a hard link of a file outside it
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    When the file outside the sandbox is rewritten through its own name
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the diff paths are "shared.txt"
    And the snapshot walked nothing

  Scenario: A service with watching off walks the sandbox at every snapshot
    Given a checkpoint service that does not watch
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I make the change "write src/main.py" in the sandbox
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the diff paths are "src/main.py"
    And the snapshot walked the whole sandbox

  Scenario: What the watcher reported before a failed snapshot is not lost
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    And the next checkpoint write fails
    When I make the change "write src/main.py" in the sandbox
    And I try to snapshot the sandbox for plan "plan-1"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the diff paths are "src/main.py"
    And the last snapshot lists what a full walk of the sandbox finds

  Scenario: A closed service walks the sandbox again
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    When the checkpoint service is closed
    And I make the change "write src/main.py" in the sandbox
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the diff paths are "src/main.py"
    And the snapshot walked the whole sandbox

  Scenario Outline: When <why>, every snapshot walks the sandbox and is still right
    Given <why>
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I make the change "write src/main.py" in the sandbox
    And I snapshot the sandbox for plan "plan-1" while recording the walks
    Then the diff paths are "src/main.py"
    And the snapshot walked the whole sandbox
    And the last snapshot lists what a full walk of the sandbox finds

    Examples:
      | why                                               |
      | the kernel has no inotify instance left           |
      | the kernel refuses to add more inotify watches    |
      | the sandbox's file system is a network file system |

  Scenario: A service remembers its last 16 plans; an older plan's next snapshot walks
    Given I snapshot the sandbox for plans "plan-0" to "plan-16"
    When I make the change "write src/main.py" in the sandbox
    And I snapshot the sandbox for plan "plan-0" while recording the walks
    Then the diff paths are "src/main.py"
    And the snapshot walked the whole sandbox
    When I make the change "write src/util.py" in the sandbox
    And I snapshot the sandbox for plan "plan-16" while recording the walks
    Then the diff paths are "src/main.py, src/util.py"
    And the snapshot walked nothing

  Scenario: A folder gone before it is watched is skipped, and a closed watcher vouches for nothing
    Then a watcher asked to watch a missing folder still reports the changes of the others
    And a closed watcher reports nothing it could vouch for

  Scenario: A prune that leaves only a manual checkpoint makes the next snapshot list every file
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I create a manual checkpoint for plan "plan-1" with description "kept"
    And plan "plan-1" is pruned to its last checkpoint
    And a new checkpoint service
    When I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the diff paths are "README.md, docs/guide.md, src/main.py, src/util.py"

  Scenario: A new service reads only the files changed since the stat cache it finds, even after a prune
    Given the sandbox was written a while ago
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I make the change "write src/main.py" in the sandbox
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And plan "plan-1" is pruned to its last checkpoint
    And a new checkpoint service
    When I make the change "write src/util.py" in the sandbox
    And I snapshot the sandbox for plan "plan-1" while counting file reads
    Then the diff paths are "src/util.py"
    And only "src/main.py, src/util.py" were read

  Scenario: Snapshots that find nothing changed leave the stored stat cache as it is
    Given the sandbox was written a while ago
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I remember the stored stat cache of plan "plan-1"
    When I snapshot the sandbox for plan "plan-1" before decision "d2"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    Then the diff paths are ""
    And the stored stat cache of plan "plan-1" is the one remembered
    Given a new checkpoint service
    When I make the change "write src/main.py" in the sandbox
    And I snapshot the sandbox for plan "plan-1" while counting file reads
    Then the diff paths are "src/main.py"
    And only "src/main.py" were read

  Scenario: A manual checkpoint after a watched snapshot does not change the next one's baseline
    Given I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I make the change "write src/main.py" in the sandbox
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And I create a manual checkpoint for plan "plan-1" with description "between"
    And a new checkpoint service
    When I make the change "delete README.md" in the sandbox
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    Then the diff paths are "README.md"

  Scenario: Random edits, folder moves and links between snapshots give what a full walk finds
    Then for random changes between snapshots every snapshot lists what a full walk finds

  Scenario: A tree index updated by a snapshot's diff holds the trees built from its whole manifest
    Then for random manifests, updating a tree index by the diff gives the trees built anew

  Scenario: Watched snapshots of a tree with many folders are what walks and git find
    Given a sandbox of 400 files in 40 folders
    When both a watching and a walking service snapshot the sandbox after each of 5 rounds
    Then every watched snapshot has the manifest, diff paths and diff hash of the walked one
    And the watching service walked the sandbox only for its first snapshot
    And no snapshot after the first ones built its tree index anew
    And the last watched snapshot holds what git's write-tree of the sandbox holds

  Scenario: A scan's manifest reads like the list of its entries
    Then a scan's manifest reads like the list of its entries

  Scenario: A tree index updated through a scan's manifest holds the trees built anew
    Then for random manifests, a scan's manifest updates a tree index as its whole list would
