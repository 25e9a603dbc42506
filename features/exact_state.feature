Feature: Exact state: a checkpoint gives back every path exactly as it was
  A workspace snapshot records each path of the sandbox as the kernel shows it,
  and a restore gives it back exactly, in place or into a fresh folder, whatever
  the umask of the restoring process:
  - file content byte for byte, and every permission bit (mode & 0o7777: 0600,
    0444, setuid, setgid and sticky included);
  - symlink targets byte for byte as os.readlink returns them: a trailing "/",
    a leading "./", a "//" inside, absolute, dangling or unusual targets;
  - folders that were empty, nested ones too (a folder holding only an ignored
    file is not empty).
  Every transition between a file, a symlink, a folder, an empty folder and
  nothing restores in both directions, and a dry run changes nothing and
  reports exactly what the real restore then does. UnsafePathError is raised
  only when a write would really go through a symlinked folder that the restore
  may not remove; it names that symlink and nothing is written. diff_paths and
  diff_hash see a link retarget, a change of permission bits alone and an empty
  folder that comes or goes (shown as "path/").
  The oracles are the kernel (os.lstat, os.readlink on bytes), copies of the
  sandbox taken with `cp -a` at snapshot time, the canonical diff form
  recomputed by hand, and git (`git archive` of the same states).

  Background:
    Given a checkpoint service

  Scenario: Symlink targets come back byte for byte, in place and in a fresh folder
    Given an empty sandbox
    And the sandbox holds these symlinks
      | link                  | target              |
      | certs/client/ca       | ../../expired/ca/   |
      | dot                   | ./dot-target        |
      | double                | a//b                |
      | absolute              | /nowhere/at/all/    |
      | dangling              | no/such/file        |
      | unusual               | a b/ü               |
      | undecodable           | bad-\xff/\ttab      |
      | to-folder             | certs//             |
      | certs/expired/ca/own  | .                   |
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I copy the sandbox with cp -a as "links"
    When I empty the sandbox
    And I restore checkpoint 1 into the sandbox under umask 077
    Then the sandbox is exactly the copy "links"
    And every symlink of the table reads back its exact target in the sandbox
    When I restore checkpoint 1 into a fresh folder under umask 000
    Then the fresh folder is exactly the copy "links"
    And every symlink of the table reads back its exact target in the fresh folder

  Scenario: Re-pointing a link from "d/" to "./d" is a change; an identical re-creation is not
    Given an empty sandbox
    And the sandbox holds these symlinks
      | link | target |
      | link | d/     |
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I re-point the symlink "link" to "./d"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the diff paths are "link"
    And the diff hash is the documented hash of the sandbox's changed paths
    When I re-point the symlink "link" to "./d"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    Then the diff paths are ""
    And the diff hash is the documented hash of the sandbox's changed paths
    When I restore checkpoint 1 into the sandbox
    Then the restore wrote "link" and removed ""
    And the symlink "link" in the sandbox reads "d/"

  Scenario Outline: Every permission bit comes back under umask <umask>
    Given an empty sandbox
    And the sandbox holds these files
      | path        | content  | mode |
      | .env        | SECRET=1 | 0600 |
      | group.txt   | shared   | 0640 |
      | private.sh  | #!/bin/sh | 0700 |
      | run.sh      | #!/bin/sh | 0755 |
      | readonly    | frozen   | 0444 |
      | setgid      | g        | 2755 |
      | sticky      | s        | 1755 |
      | setuid      | u        | 4755 |
      | all/bits    | all      | 7777 |
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I copy the sandbox with cp -a as "modes"
    When every file of the sandbox is set to mode 0666
    And I restore checkpoint 1 into the sandbox under umask <umask>
    Then the sandbox is exactly the copy "modes"
    And the restore wrote "<all files>" and removed ""
    When I empty the sandbox
    And I restore checkpoint 1 into the sandbox under umask <umask>
    Then the sandbox is exactly the copy "modes"
    When I restore checkpoint 1 into a fresh folder under umask <umask>
    Then the fresh folder is exactly the copy "modes"

    Examples:
      | umask | all files                                                                 |
      | 077   | .env, all/bits, group.txt, private.sh, readonly, run.sh, setgid, setuid, sticky |
      | 000   | .env, all/bits, group.txt, private.sh, readonly, run.sh, setgid, setuid, sticky |

  Scenario: A change of permission bits alone is listed and changes the diff hash
    Given an empty sandbox
    And the sandbox holds these files
      | path  | content  | mode |
      | .env  | SECRET=1 | 0644 |
      | keep  | same     | 0644 |
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    When the file ".env" of the sandbox is set to mode 0600
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the diff paths are ".env"
    And the diff hash is the documented hash of the sandbox's changed paths
    When the file ".env" of the sandbox is set to mode 0640
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    Then the diff paths are ".env"
    And the diff hash is the documented hash of the sandbox's changed paths
    And the last two checkpoints have different diff hashes
    When I restore checkpoint 2 into the sandbox
    Then the restore wrote ".env" and removed ""
    And the file ".env" in the sandbox has mode 0600 and content "SECRET=1"

  Scenario: Empty folders come back, nested ones too, in place and in a fresh folder
    Given a sandbox holding
      | path         | content |
      | src/main.py  | main    |
    And the sandbox holds the empty folders "build, cache/a/b, src/empty"
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I copy the sandbox with cp -a as "with empties"
    Then the diff paths are "build/, cache/a/b/, src/empty/, src/main.py"
    And the diff hash is the documented hash of the sandbox's changed paths
    When I remove the folders "build, cache, src/empty" from the sandbox
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    And I copy the sandbox with cp -a as "without"
    Then the diff paths are "build/, cache/a/b/, src/empty/"
    And the diff hash is the documented hash of the sandbox's changed paths
    When I restore checkpoint 1 into the sandbox
    Then the sandbox is exactly the copy "with empties"
    And the restore wrote "build/, cache/a/b/, src/empty/" and removed ""
    When I restore checkpoint 1 into a fresh folder under umask 077
    Then the fresh folder is exactly the copy "with empties"
    When I restore checkpoint 2 into the sandbox
    Then the sandbox is exactly the copy "without"
    And the restore wrote "" and removed "build/, cache/a/b/, src/empty/"

  Scenario: A folder that fills up or empties is listed as "path/"
    Given an empty sandbox
    And the sandbox holds the empty folders "box"
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I change "box/item.txt" to "item"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the diff paths are "box/, box/item.txt"
    And the diff hash is the documented hash of the sandbox's changed paths
    When I delete "box/item.txt"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    Then the diff paths are "box/, box/item.txt"
    And the diff hash is the documented hash of the sandbox's changed paths

  Scenario: A folder holding only an ignored file is not empty
    Given a checkpoint service excluding "*.log" with a size limit of 1000000 bytes
    And a sandbox holding
      | path         | content |
      | keep.txt     | keep    |
      | logs/run.log | ignored |
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    Then the diff paths are "keep.txt"
    When I delete "logs/run.log"
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    Then the diff paths are "logs/"
    When I change "logs/again.log" to "ignored again"
    And I snapshot the sandbox for plan "plan-1" before decision "d3"
    Then the diff paths are "logs/"
    And the diff hash is the documented hash of the sandbox's changed paths
    When I restore checkpoint 1 into a fresh folder under umask 022
    Then the fresh folder holds exactly "keep.txt"
    When I restore checkpoint 2 into a fresh folder under umask 022
    Then the fresh folder holds exactly "keep.txt, logs/"

  Scenario Outline: An empty folder of the checkpoint that now holds <what> is left as it is, and not reported
    Given a checkpoint service excluding "*.log" with a size limit of 1000000 bytes
    And a sandbox holding
      | path     | content |
      | keep.txt | keep    |
    And the sandbox holds the empty folders "logs"
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    When I change "logs/<file>" to "kept"
    And I copy the sandbox with cp -a as "with the file"
    And I dry-run and then restore checkpoint 1 into the sandbox
    Then the dry run left the sandbox as it was
    And the restore did what the dry run reported
    And the restore wrote "" and removed ""
    And the sandbox is exactly the copy "with the file"

    Examples:
      | what                   | file      |
      | an ignored file        | run.log   |
      | a file no snapshot saw | notes.txt |

  Scenario Outline: <at checkpoint> at the checkpoint and <now> now: restored in place, fresh and as a dry run
    Given a sandbox holding
      | path       | content |
      | target.txt | target  |
      | real/r.txt | real    |
    And "x" in the sandbox is <at checkpoint>
    And I snapshot the sandbox for plan "plan-1" before decision "a"
    And I copy the sandbox with cp -a as "A"
    And "x" in the sandbox is <now>
    And I snapshot the sandbox for plan "plan-1" before decision "b"
    And I copy the sandbox with cp -a as "B"
    When I dry-run and then restore checkpoint 1 into the sandbox
    Then the dry run left the sandbox as it was
    And the restore did what the dry run reported
    And the restore wrote "<written>" and removed "<removed>"
    And the sandbox is exactly the copy "A"
    When I restore checkpoint 1 into the sandbox
    Then the restore wrote "" and removed ""
    When I restore checkpoint 1 into a fresh folder under umask 077
    Then the fresh folder is exactly the copy "A"
    When I dry-run and then restore checkpoint 2 into the sandbox
    Then the dry run left the sandbox as it was
    And the restore did what the dry run reported
    And the sandbox is exactly the copy "B"

    # A path the checkpoint has is listed in written only, whatever stood there
    # before ("x/" replacing a file "x" removes nothing else); removed lists the
    # paths the checkpoint lacks.
    Examples: to and from nothing
      | at checkpoint                    | now                              | written                   | removed                  |
      | nothing                          | a file                           |                           | x                        |
      | a file                           | nothing                          | x                         |                          |
      | nothing                          | a symlink to "target.txt"        |                           | x                        |
      | a symlink to "target.txt"        | nothing                          | x                         |                          |
      | nothing                          | a symlink to "real/"             |                           | x                        |
      | a symlink to "real/"             | nothing                          | x                         |                          |
      | nothing                          | a folder with files              |                           | x/in.txt, x/sub/deep.txt |
      | a folder with files              | nothing                          | x/in.txt, x/sub/deep.txt  |                          |
      | nothing                          | an empty folder                  |                           | x/                       |
      | an empty folder                  | nothing                          | x/                        |                          |

    Examples: between files and symlinks
      | at checkpoint                    | now                              | written                   | removed                  |
      | a file                           | a symlink to "target.txt"        | x                         |                          |
      | a symlink to "target.txt"        | a file                           | x                         |                          |
      | a file                           | a symlink to "real/"             | x                         |                          |
      | a symlink to "real/"             | a file                           | x                         |                          |
      | a symlink to "target.txt"        | a symlink to "./target.txt"      | x                         |                          |
      | a symlink to "./target.txt"      | a symlink to "target.txt"        | x                         |                          |
      | a symlink to "real/"             | a symlink to "real"              | x                         |                          |
      | a file                           | an executable file               | x                         |                          |
      | an executable file               | a file                           | x                         |                          |

    Examples: between a folder and a file or a symlink
      | at checkpoint                    | now                              | written                   | removed                  |
      | a folder with files              | a file                           | x/in.txt, x/sub/deep.txt  | x                        |
      | a file                           | a folder with files              | x                         | x/in.txt, x/sub/deep.txt |
      | a folder with files              | a symlink to "real/"             | x/in.txt, x/sub/deep.txt  | x                        |
      | a symlink to "real/"             | a folder with files              | x                         | x/in.txt, x/sub/deep.txt |
      | a folder with files              | a symlink to "target.txt"        | x/in.txt, x/sub/deep.txt  | x                        |
      | a symlink to "target.txt"        | a folder with files              | x                         | x/in.txt, x/sub/deep.txt |

    Examples: between an empty folder and anything
      | at checkpoint                    | now                              | written                   | removed                  |
      | an empty folder                  | a file                           | x/                        |                          |
      | a file                           | an empty folder                  | x                         |                          |
      | an empty folder                  | a symlink to "real/"             | x/                        |                          |
      | a symlink to "real/"             | an empty folder                  | x                         |                          |
      | an empty folder                  | a folder with files              | x/                        | x/in.txt, x/sub/deep.txt |
      | a folder with files              | an empty folder                  | x/in.txt, x/sub/deep.txt  | x/                       |

  Scenario Outline: <now> that no snapshot saw is replaced when removing untracked files
    Given a sandbox holding
      | path       | content |
      | target.txt | target  |
      | real/r.txt | real    |
    And "x" in the sandbox is <at checkpoint>
    And I snapshot the sandbox for plan "plan-1" before decision "a"
    And I copy the sandbox with cp -a as "A"
    And "x" in the sandbox is <now>
    When I dry-run and then restore checkpoint 1 into the sandbox removing untracked files
    Then the dry run left the sandbox as it was
    And the restore did what the dry run reported
    And the restore wrote "<written>" and removed "<removed>"
    And the sandbox is exactly the copy "A"

    Examples:
      | at checkpoint             | now                          | written                  | removed                  |
      | nothing                   | a symlink to "target.txt"    |                          | x                        |
      | nothing                   | a symlink to "real/"         |                          | x                        |
      | a file                    | a symlink to "real/"         | x                        |                          |
      | a folder with files       | a symlink to "real/"         | x/in.txt, x/sub/deep.txt | x                        |
      | a symlink to "target.txt" | a folder with files          | x                        | x/in.txt, x/sub/deep.txt |
      | an empty folder           | a symlink to "./target.txt"  | x/                       |                          |

  Scenario Outline: A symlink that is itself replaced is no obstacle, even one no snapshot saw
    Given a sandbox holding
      | path       | content |
      | target.txt | target  |
      | real/r.txt | real    |
    And "x" in the sandbox is <at checkpoint>
    And I snapshot the sandbox for plan "plan-1" before decision "a"
    And I copy the sandbox with cp -a as "A"
    And "x" in the sandbox is <now>
    When I dry-run and then restore checkpoint 1 into the sandbox
    Then the dry run left the sandbox as it was
    And the restore did what the dry run reported
    And the restore wrote "x" and removed ""
    And the sandbox is exactly the copy "A"

    Examples:
      | at checkpoint             | now                          |
      | a file                    | a symlink to "real/"         |
      | a file                    | a symlink to "target.txt"    |
      | a symlink to "real/"      | a symlink to "real"          |
      | an executable file        | a symlink to "real/"         |

  Scenario Outline: A symlinked folder the restore may not remove is refused and named: <why>
    Given a sandbox holding
      | path             | content |
      | src/main.py      | main    |
      | src/deep/x.py    | x       |
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I copy the sandbox with cp -a as "checkpoint"
    And an outside folder for the restore
    And the sandbox's "<folder>" is replaced by a symlink to the outside folder
    And <service>
    And I copy the sandbox with cp -a as "before"
    When I try to restore checkpoint 1 into the sandbox <how>
    Then it fails with UnsafePathError
    And the error names the symlink "<folder>" of the sandbox
    And the sandbox is exactly the copy "before"
    And the outside folder is still empty
    When I try to restore checkpoint 1 into the sandbox as a dry run
    Then it fails with UnsafePathError
    And the error names the symlink "<folder>" of the sandbox

    Examples:
      | why                                      | folder   | service                                                           | how                           |
      | a link no snapshot saw                   | src      | a checkpoint service                                              | keeping untracked files       |
      | a deeper link no snapshot saw            | src/deep | a checkpoint service                                              | keeping untracked files       |
      | a link the ignore rules leave out        | src      | a checkpoint service excluding "src" with a size limit of 1000000 bytes  | removing untracked files |
      | a deeper link the ignore rules leave out | src/deep | a checkpoint service excluding "deep" with a size limit of 1000000 bytes | removing untracked files |

  Scenario: The same symlinked folder goes when untracked files are removed, or when the plan knows it
    Given a sandbox holding
      | path             | content |
      | src/main.py      | main    |
      | src/deep/x.py    | x       |
    And I snapshot the sandbox for plan "plan-1" before decision "d1"
    And I copy the sandbox with cp -a as "checkpoint"
    And an outside folder for the restore
    And the sandbox's "src/deep" is replaced by a symlink to the outside folder
    When I restore checkpoint 1 into the sandbox removing untracked files
    Then the sandbox is exactly the copy "checkpoint"
    And the restore wrote "src/deep/x.py" and removed "src/deep"
    And the outside folder is still empty
    Given the sandbox's "src" is replaced by a symlink to the outside folder
    And I snapshot the sandbox for plan "plan-1" before decision "d2"
    When I restore checkpoint 1 into the sandbox
    Then the sandbox is exactly the copy "checkpoint"
    And the restore wrote "src/deep/x.py, src/main.py" and removed "src"
    And the outside folder is still empty

  Scenario: Restoring after random file, symlink, mode and folder operations gives back every checkpoint exactly (property)
    Then for random sequences of operations between snapshots every checkpoint restores exactly, in place and fresh

  Scenario: Every commit of a git repository restores like git archive of it
    Given a git repository as the sandbox
    When I commit and snapshot these states of the sandbox
      | state | path                    | kind | content             | mode |
      | 1     | README.md               | file | hello\n             | 644  |
      | 1     | bin/run.sh              | file | #!/bin/sh\necho hi\n | 755 |
      | 1     | lib/a.py                | file | A = 1\n             | 644  |
      | 1     | expired/ca/cert.pem     | file | CERT\n              | 644  |
      | 1     | certs/client/ca         | link | ../../expired/ca/   |      |
      | 1     | docs                    | link | ./lib               |      |
      | 1     | abs                     | link | /usr/share/doc/     |      |
      | 2     | bin/run.sh              | file | #!/bin/sh\necho hi\n | 644 |
      | 2     | lib/a.py                | link | b.py                |      |
      | 2     | lib/b.py                | file | B = 2\n             | 755  |
      | 2     | expired/ca/cert.pem     | file | CERT\n              | 644  |
      | 2     | certs/client/ca         | link | ../../expired/ca//  |      |
      | 2     | docs                    | link | lib/                |      |
      | 2     | ünï cødé/naïve.txt      | file | ü\n                 | 644  |
      | 3     | bin                     | file | not a folder\n      | 755  |
      | 3     | lib/a.py                | file | A = 3\n             | 755  |
      | 3     | lib/b.py                | link | a.py                |      |
      | 3     | certs/client/ca         | file | now a file\n        | 644  |
      | 3     | docs                    | link | nowhere/            |      |
      | 4     | bin/run.sh              | file | #!/bin/sh\necho hi\n | 755 |
      | 4     | bin/current             | link | run.sh              |      |
      | 4     | certs/client/ca         | link | ../../expired/ca/   |      |
      | 4     | expired/ca/cert.pem     | file | CERT 2\n            | 600  |
      | 4     | README.md               | file | hello again\n       | 644  |
    Then each checkpoint restored into a fresh folder matches git archive of its commit
    And each checkpoint restored in place into the repository matches git archive of its commit
