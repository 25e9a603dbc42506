*** Settings ***
Documentation       ``cleveragents demo`` snapshots its sandbox before every step; the
...                 ``checkpoint`` commands list, show, diff, verify, restore and prune those
...                 checkpoints (by count and age, with a dry run) from new processes, and
...                 refuse a damaged one.
Resource            resources/cli.resource
Suite Setup         Create Suite Temp Dir
Suite Teardown      Remove Suite Temp Dir
Test Setup          Record A Demo In A Fresh Database


*** Variables ***
@{CHECKPOINT_FIELDS}    checkpoint_id    plan_id    sandbox_ref    checkpoint_type    parent_id
...                     created_at    metadata
@{METADATA_FIELDS}      decision_id    description    tags    extra
@{INITIAL_FILES}        README.md    app/legacy.py    app/main.py    app/util.py
...                     tests/test_util.py
@{RESTORE_FIELDS}       checkpoint_id    target_dir    written    removed    skipped    dry_run
@{SUMMARY_FIELDS}       checkpoint_id    checkpoint_type    created_at    decision_id
...                     diff_path_count
@{DIFF_FIELDS}          from_checkpoint_id    to_checkpoint_id    paths
@{DIFF_PATH_FIELDS}     path    status    old    new    binary    insertions    deletions    diff
${LONG_ID}              xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx


*** Test Cases ***
Demo Takes A Checkpoint Before Every Step And Shows A Restore
    ${taken}=    Get Regexp Matches    ${DEMO}    (?m)^${SPACE*2}checkpoint \\S+ \\(pre_decision, \\d+ changed paths?\\)$
    Length Should Be    ${taken}    ${STEPS}
    Should Contain    ${DEMO}    == checkpoint restore --dry-run: undo step 6 in the sandbox ==
    Should Match Regexp    ${DEMO}    (?m)^dry_run: true\\nwritten: 1\\n  tests/test_util.py\\nremoved: 1\\n  tests/test_app.py$
    Should Match Regexp    ${DEMO}    (?m)^dry_run: false\\nwritten: 5$
    Should Match Regexp    ${DEMO}    (?m)^\\S+: ok$
    Should Contain    ${DEMO}    cleveragents --database-url ${DB_URL} checkpoint list ${PLAN}

List As Json Has One Pre-Decision Checkpoint Per Step In A Parent Chain
    ${checkpoints}=    Checkpoints Of Plan
    Length Should Be    ${checkpoints}    ${STEPS}
    ${parent}=    Set Variable    ${None}
    FOR    ${index}    ${checkpoint}    IN ENUMERATE    @{checkpoints}    start=1
        ${keys}=    Get Dictionary Keys    ${checkpoint}    sort_keys=False
        Should Be Equal    ${keys}    ${CHECKPOINT_FIELDS}
        ${meta_keys}=    Get Dictionary Keys    ${checkpoint}[metadata]    sort_keys=False
        Should Be Equal    ${meta_keys}    ${METADATA_FIELDS}
        Should Be Equal    ${checkpoint}[plan_id]    ${PLAN}
        Should Be Equal    ${checkpoint}[checkpoint_type]    pre_decision
        Should Be Equal    ${checkpoint}[parent_id]    ${parent}
        Should Be Equal    ${checkpoint}[metadata][decision_id]    step-${index}
        Should Be True    ${checkpoint}[metadata][extra][diff_based] is True
        Should Match Regexp    ${checkpoint}[metadata][extra][diff_hash]    ^[0-9a-f]{64}$
        Should Match Regexp    ${checkpoint}[created_at]    ^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$
        ${parent}=    Set Variable    ${checkpoint}[checkpoint_id]
    END
    Should Be Equal    ${checkpoints}[0][metadata][extra][diff_paths]    ${INITIAL_FILES}
    # Step 1 only reads files: the checkpoint before step 2 changed nothing.
    Should Be Empty    ${checkpoints}[1][metadata][extra][diff_paths]
    ${renamed}=    Create List    tests/test_app.py    tests/test_util.py
    Should Be Equal    ${checkpoints}[6][metadata][extra][diff_paths]    ${renamed}

List As Yaml Is The Same Document
    ${json}=    Run Cleveragents    checkpoint    list    ${PLAN}    --format    json
    ${yaml}=    Run Cleveragents    checkpoint    list    ${PLAN}    --format    yaml
    Should Have Succeeded    ${yaml}
    ${from_json}=    Parse Json    ${json.stdout}
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${from_yaml}    ${from_json}
    Should Be Equal    ${from_json}[plan_id]    ${PLAN}

List As Plain And Rich Text Names Every Checkpoint
    ${checkpoints}=    Checkpoints Of Plan
    ${plain}=    Run Cleveragents    checkpoint    list    ${PLAN}    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    Should Contain    ${lines}    checkpoints: ${STEPS}
    Should Contain    ${lines}    ${SPACE*2}diff_path_count: 5
    ${rich}=    Run Cleveragents    checkpoint    list    ${PLAN}    --format    rich
    Should Have Succeeded    ${rich}
    FOR    ${checkpoint}    IN    @{checkpoints}
        Should Contain    ${lines}    checkpoint: ${checkpoint}[checkpoint_id]
        Should Contain    ${rich.stdout}    ${checkpoint}[checkpoint_id]
    END

Show As Json Carries The Diff Metadata
    ${checkpoints}=    Checkpoints Of Plan
    ${first}=    Set Variable    ${checkpoints}[0]
    ${shown}=    Show Checkpoint    ${first}[checkpoint_id]
    Should Be Equal    ${shown}    ${first}
    ${extra}=    Set Variable    ${shown}[metadata][extra]
    ${extra_keys}=    Get Dictionary Keys    ${extra}    sort_keys=True
    ${expected}=    Create List    diff_based    diff_hash    diff_paths
    Should Be Equal    ${extra_keys}    ${expected}
    Should Be Equal    ${extra}[diff_paths]    ${INITIAL_FILES}

The Diff Hash Is The Documented Canonical Form
    ${first}=    First Checkpoint
    ${dir}=    New Folder Path
    ${restore}=    Run Cleveragents    checkpoint    restore    ${first}[checkpoint_id]    --to    ${dir}
    Should Have Succeeded    ${restore}
    # One row per path, [path, sha256, kind, mode]: the first checkpoint holds only new files.
    ${recomputed}=    Evaluate
    ...    (lambda root, paths: hashlib.sha256(json.dumps(sorted([p, hashlib.sha256(pathlib.Path(root, p).read_bytes()).hexdigest(), "file", pathlib.Path(root, p).stat().st_mode & 0o7777] for p in paths), ensure_ascii=False, separators=(",", ":")).encode()).hexdigest())($dir, $first["metadata"]["extra"]["diff_paths"])
    ...    modules=hashlib,json,pathlib
    Should Be Equal    ${recomputed}    ${first}[metadata][extra][diff_hash]

Show As Plain And Rich Text Lists The Fields
    ${first}=    First Checkpoint
    ${plain}=    Run Cleveragents    checkpoint    show    ${first}[checkpoint_id]    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    FOR    ${line}    IN    checkpoint: ${first}[checkpoint_id]    plan_id: ${PLAN}
    ...    checkpoint_type: pre_decision    parent_id: none    decision_id: step-1
    ...    diff_based: true    diff_hash: ${first}[metadata][extra][diff_hash]    diff_paths: 5
    ...    ${SPACE*2}app/legacy.py
        Should Contain    ${lines}    ${line}
    END
    ${rich}=    Run Cleveragents    checkpoint    show    ${first}[checkpoint_id]    --format    rich
    Should Have Succeeded    ${rich}
    Should Contain    ${rich.stdout}    ${first}[metadata][extra][diff_hash]
    Should Contain    ${rich.stdout}    tests/test_util.py

Verify Prints Ok For Every Checkpoint
    ${checkpoints}=    Checkpoints Of Plan
    FOR    ${checkpoint}    IN    @{checkpoints}
        ${result}=    Run Cleveragents    checkpoint    verify    ${checkpoint}[checkpoint_id]
        Should Have Succeeded    ${result}
        Should Be Equal    ${result.stdout}    ok
    END

Restore Writes The Files Into A New Folder
    ${first}=    First Checkpoint
    ${dir}=    New Folder Path
    ${restored}=    Restore Checkpoint    ${first}[checkpoint_id]    ${dir}
    ${keys}=    Get Dictionary Keys    ${restored}    sort_keys=False
    Should Be Equal    ${keys}    ${RESTORE_FIELDS}
    Should Be Equal    ${restored}[written]    ${INITIAL_FILES}
    Should Be Empty    ${restored}[removed]
    Should Be Empty    ${restored}[skipped]
    Should Be True    ${restored}[dry_run] is False
    ${readme}=    Get File    ${dir}/README.md
    Should Contain    ${readme}    \# textkit
    ${legacy}=    Get File    ${dir}/app/legacy.py
    Should Contain    ${legacy}    Deprecated: use app.util.normalize_whitespace.
    ${again}=    Restore Checkpoint    ${first}[checkpoint_id]    ${dir}
    Should Be Empty    ${again}[written]
    Should Be Empty    ${again}[removed]

Restore Goes Back And Forth Between Checkpoints
    ${checkpoints}=    Checkpoints Of Plan
    ${dir}=    New Folder Path
    ${last}=    Restore Checkpoint    ${checkpoints}[-1][checkpoint_id]    ${dir}
    File Should Exist    ${dir}/tests/test_app.py
    File Should Not Exist    ${dir}/app/legacy.py
    ${back}=    Restore Checkpoint    ${checkpoints}[0][checkpoint_id]    ${dir}
    ${written}=    Create List    app/legacy.py    app/main.py    app/util.py    tests/test_util.py
    Should Be Equal    ${back}[written]    ${written}
    ${removed}=    Create List    app/http.py    tests/test_app.py
    Should Be Equal    ${back}[removed]    ${removed}
    File Should Not Exist    ${dir}/tests/test_app.py
    File Should Exist    ${dir}/app/legacy.py

Dry Run Writes Nothing
    ${first}=    First Checkpoint
    ${dir}=    New Folder Path
    ${preview}=    Restore Checkpoint    ${first}[checkpoint_id]    ${dir}    --dry-run
    Should Be True    ${preview}[dry_run] is True
    Should Be Equal    ${preview}[written]    ${INITIAL_FILES}
    Directory Should Not Exist    ${dir}
    Create Directory    ${dir}
    ${plain}=    Run Cleveragents    checkpoint    restore    ${first}[checkpoint_id]    --to    ${dir}
    ...    --dry-run    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    Should Contain    ${lines}    dry_run: true
    Should Contain    ${lines}    written: 5
    Directory Should Be Empty    ${dir}

Untracked Files Stay Unless Asked To Remove Them
    ${first}=    First Checkpoint
    ${dir}=    New Folder Path
    Create File    ${dir}/notes.txt    mine
    ${kept}=    Restore Checkpoint    ${first}[checkpoint_id]    ${dir}
    Should Be Empty    ${kept}[removed]
    File Should Exist    ${dir}/notes.txt
    ${removed}=    Restore Checkpoint    ${first}[checkpoint_id]    ${dir}    --remove-untracked
    ${expected}=    Create List    notes.txt
    Should Be Equal    ${removed}[removed]    ${expected}
    File Should Not Exist    ${dir}/notes.txt

A Symlink In The Target Is Never Written Through
    ${first}=    First Checkpoint
    ${dir}=    New Folder Path
    ${elsewhere}=    New Folder Path
    Create Directory    ${dir}
    Create Directory    ${elsewhere}
    Evaluate    os.symlink($elsewhere, os.path.join($dir, "app"))    modules=os
    ${result}=    Run Cleveragents    checkpoint    restore    ${first}[checkpoint_id]    --to    ${dir}
    Should Have Failed With    ${result}    1
    Should Contain    ${result.stderr}    symlink
    Directory Should Be Empty    ${elsewhere}
    File Should Not Exist    ${dir}/README.md

Unknown Checkpoint Or Plan Is Not Found
    ${dir}=    New Folder Path
    FOR    ${args}    IN    show 01NOSUCHCHECKPOINT    verify 01NOSUCHCHECKPOINT
    ...    restore 01NOSUCHCHECKPOINT --to ${dir}    list no-such-plan
        @{argv}=    Split String    ${args}
        ${result}=    Run Cleveragents    checkpoint    @{argv}
        Should Have Failed With    ${result}    3
        Should Be Empty    ${result.stdout}
    END
    Directory Should Not Exist    ${dir}

Invalid Ids And Missing Options Are Usage Errors
    FOR    ${command}    IN    show    verify    list
        FOR    ${bad}    IN    ${LONG_ID}    ${SPACE}padded${SPACE}    ${EMPTY}
            ${result}=    Run Cleveragents    checkpoint    ${command}    ${bad}
            Should Have Failed With    ${result}    2
        END
    END
    ${restore}=    Run Cleveragents    checkpoint    restore    ${LONG_ID}    --to    x
    Should Have Failed With    ${restore}    2
    ${no_target}=    Run Cleveragents    checkpoint    restore    01ANYCHECKPOINT
    Should Have Failed With    ${no_target}    2
    Should Contain    ${no_target.stderr}    --to
    ${no_keep}=    Run Cleveragents    checkpoint    prune    ${PLAN}
    Should Have Failed With    ${no_keep}    2
    ${group}=    Run Cleveragents    checkpoint
    Should Have Failed With    ${group}    2
    FOR    ${command}    IN    list    show    diff    restore    verify    prune
        Should Match Regexp    ${group.stdout}    (?m)^\\s+${command}\\s
    END

Prune Keeps The Newest Checkpoints
    ${checkpoints}=    Checkpoints Of Plan
    ${result}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --keep    1
    Should Have Succeeded    ${result}
    ${deleted}=    Evaluate    ${STEPS} - 1
    Should Be Equal As Integers    ${result.stdout}    ${deleted}
    ${left}=    Checkpoints Of Plan
    Length Should Be    ${left}    1
    Should Be Equal    ${left}[0]    ${checkpoints}[-1]
    # Its parent is gone, yet it verifies and restores on its own.
    ${parent}=    Run Cleveragents    checkpoint    show    ${left}[0][parent_id]
    Should Have Failed With    ${parent}    3
    ${verify}=    Run Cleveragents    checkpoint    verify    ${left}[0][checkpoint_id]
    Should Have Succeeded    ${verify}
    ${dir}=    New Folder Path
    ${restored}=    Restore Checkpoint    ${left}[0][checkpoint_id]    ${dir}
    ${files}=    Create List    README.md    app/http.py    app/main.py    app/util.py
    ...    tests/test_app.py
    Should Be Equal    ${restored}[written]    ${files}
    ${again}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --keep    1
    Should Have Succeeded    ${again}
    Should Be Equal    ${again.stdout}    0

Prune Refuses A Negative Count
    ${result}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --keep    -1
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stderr}    --keep
    ${left}=    Checkpoints Of Plan
    Length Should Be    ${left}    ${STEPS}

Prune Of Everything Leaves The Plan Without Checkpoints
    ${result}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --keep    0
    Should Have Succeeded    ${result}
    Should Be Equal As Integers    ${result.stdout}    ${STEPS}
    ${list}=    Run Cleveragents    checkpoint    list    ${PLAN}
    Should Have Failed With    ${list}    3
    ${unknown}=    Run Cleveragents    checkpoint    prune    no-such-plan    --keep    0
    Should Have Succeeded    ${unknown}
    Should Be Equal    ${unknown.stdout}    0

Prune Dry Run Names What Would Go And Writes Nothing
    ${checkpoints}=    Checkpoints Of Plan
    ${preview}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --older-than    0s
    ...    --dry-run    --format    json
    Should Have Succeeded    ${preview}
    ${report}=    Parse Json    ${preview.stdout}
    ${older}=    Evaluate    [c["checkpoint_id"] for c in $checkpoints[:-1]]
    Should Be Equal    ${report}[checkpoint_ids]    ${older}
    ${older_count}=    Get Length    ${older}
    Should Be Equal As Integers    ${report}[count]    ${older_count}
    Should Be True    ${report}[dry_run] is True
    Should Be True    ${report}[bytes_freed] > 0
    ${left}=    Checkpoints Of Plan
    Should Be Equal    ${left}    ${checkpoints}
    ${plain}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --older-than    1w
    ...    --max-size    2GB    --dry-run    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    Should Contain    ${lines}    dry_run: true
    Should Contain    ${lines}    count: 0

Prune By Age Keeps The Newest Checkpoint, Which Still Restores
    ${checkpoints}=    Checkpoints Of Plan
    ${recent}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --older-than    7d
    Should Have Succeeded    ${recent}
    Should Be Equal    ${recent.stdout}    0
    ${result}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --older-than    0s
    ...    --format    yaml
    Should Have Succeeded    ${result}
    ${report}=    Parse Yaml    ${result.stdout}
    ${deleted}=    Evaluate    ${STEPS} - 1
    Should Be Equal As Integers    ${report}[count]    ${deleted}
    Should Be True    ${report}[dry_run] is False
    ${left}=    Checkpoints Of Plan
    Length Should Be    ${left}    1
    Should Be Equal    ${left}[0]    ${checkpoints}[-1]
    ${verify}=    Run Cleveragents    checkpoint    verify    ${left}[0][checkpoint_id]
    Should Have Succeeded    ${verify}
    ${dir}=    New Folder Path
    ${restored}=    Restore Checkpoint    ${left}[0][checkpoint_id]    ${dir}
    Length Should Be    ${restored}[written]    5
    ${bad}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --older-than    7days
    Should Have Failed With    ${bad}    2
    Should Contain    ${bad.stderr}    --older-than
    ${size}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --keep-last    0    --max-size    2QB
    Should Have Failed With    ${size}    2
    Should Contain    ${size.stderr}    --max-size
    ${all}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --keep-last    0
    Should Have Succeeded    ${all}
    Should Be Equal    ${all.stdout}    1

A Damaged Checkpoint Fails Verification And Restore
    ${first}=    First Checkpoint
    ${corrupted}=    Corrupt Every Blob
    Should Be True    ${corrupted} > 0
    ${verify}=    Run Cleveragents    checkpoint    verify    ${first}[checkpoint_id]
    Should Have Failed With    ${verify}    1
    Should Contain    ${verify.stderr}    checkpoint ${first}[checkpoint_id] failed verification
    Should Be Empty    ${verify.stdout}
    ${dir}=    New Folder Path
    ${restore}=    Run Cleveragents    checkpoint    restore    ${first}[checkpoint_id]    --to    ${dir}
    Should Have Failed With    ${restore}    1
    Should Be Empty    ${restore.stdout}
    Directory Should Not Exist    ${dir}

Diff Shows What Changed Between Two Checkpoints, As Git Does
    ${checkpoints}=    Checkpoints Of Plan
    ${result}=    Run Cleveragents    checkpoint    diff    ${checkpoints}[0][checkpoint_id]
    ...    ${checkpoints}[-1][checkpoint_id]
    Should Have Succeeded    ${result}
    ${lines}=    Split To Lines    ${result.stdout}
    FOR    ${line}    IN    diff --git a/app/http.py b/app/http.py    new file mode 100644
    ...    --- /dev/null    +++ b/app/http.py    diff --git a/app/legacy.py b/app/legacy.py
    ...    deleted file mode 100644    --- a/app/legacy.py    +++ /dev/null
    ...    --- a/app/util.py    +++ b/app/util.py    +def slugify(text: str) -> str:
        Should Contain    ${lines}    ${line}
    END
    Should Match Regexp    ${result.stdout}    (?m)^@@ -\\d+,\\d+ \\+\\d+,\\d+ @@
    ${default}=    Run Cleveragents    checkpoint    diff    ${checkpoints}[0][checkpoint_id]
    ...    ${checkpoints}[-1][checkpoint_id]    --format    plain
    Should Be Equal    ${default.stdout}    ${result.stdout}
    ${rich}=    Run Cleveragents    checkpoint    diff    ${checkpoints}[0][checkpoint_id]
    ...    ${checkpoints}[-1][checkpoint_id]    --format    rich
    Should Have Succeeded    ${rich}
    Should Contain    ${rich.stdout}    +def slugify(text: str) -> str:

Diff As Json And Yaml Lists Each Changed Path
    ${checkpoints}=    Checkpoints Of Plan
    ${diff}=    Diff Checkpoints    ${checkpoints}[0][checkpoint_id]    ${checkpoints}[-1][checkpoint_id]
    ${keys}=    Get Dictionary Keys    ${diff}    sort_keys=False
    Should Be Equal    ${keys}    ${DIFF_FIELDS}
    Should Be Equal    ${diff}[from_checkpoint_id]    ${checkpoints}[0][checkpoint_id]
    Should Be Equal    ${diff}[to_checkpoint_id]    ${checkpoints}[-1][checkpoint_id]
    ${shown}=    Evaluate    [p["path"] + " " + p["status"] for p in $diff["paths"]]
    ${expected}=    Create List    app/http.py added    app/legacy.py deleted
    ...    app/main.py modified    app/util.py modified    tests/test_app.py added
    ...    tests/test_util.py deleted
    Should Be Equal    ${shown}    ${expected}
    FOR    ${path}    IN    @{diff}[paths]
        ${path_keys}=    Get Dictionary Keys    ${path}    sort_keys=False
        Should Be Equal    ${path_keys}    ${DIFF_PATH_FIELDS}
        Should Start With    ${path}[diff]    diff --git a/${path}[path] b/${path}[path]\n
        Should Be True    ${path}[binary] is False
    END
    Should Be Equal    ${diff}[paths][0][old]    ${None}
    Should Be Equal    ${diff}[paths][1][new]    ${None}
    Should Be Equal    ${diff}[paths][2][new][kind]    file
    Should Be Equal As Integers    ${diff}[paths][2][new][mode]    420
    Should Be True    ${diff}[paths][3][insertions] > 0
    ${yaml}=    Run Cleveragents    checkpoint    diff    ${checkpoints}[0][checkpoint_id]
    ...    ${checkpoints}[-1][checkpoint_id]    --format    yaml
    Should Have Succeeded    ${yaml}
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${from_yaml}    ${diff}

Diff Filters By Path And Runs Either Way
    ${checkpoints}=    Checkpoints Of Plan
    ${first}=    Set Variable    ${checkpoints}[0][checkpoint_id]
    ${last}=    Set Variable    ${checkpoints}[-1][checkpoint_id]
    ${tests}=    Diff Checkpoints    ${last}    ${first}    --path    tests/*
    ${shown}=    Evaluate    [p["path"] + " " + p["status"] for p in $tests["paths"]]
    ${expected}=    Create List    tests/test_app.py deleted    tests/test_util.py added
    Should Be Equal    ${shown}    ${expected}
    ${none}=    Diff Checkpoints    ${first}    ${last}    --path    docs/*
    Should Be Empty    ${none}[paths]
    ${same}=    Run Cleveragents    checkpoint    diff    ${first}    ${first}
    Should Have Succeeded    ${same}
    Should Be Empty    ${same.stdout}
    # Step 1 only reads files: the checkpoints before steps 1 and 2 hold the same tree.
    ${unchanged}=    Diff Checkpoints    ${first}    ${checkpoints}[1][checkpoint_id]
    Should Be Empty    ${unchanged}[paths]

Diff Refuses Unknown, Invalid, Bare And Damaged Checkpoints
    ${first}=    First Checkpoint
    ${unknown}=    Run Cleveragents    checkpoint    diff    ${first}[checkpoint_id]    01NOSUCHCHECKPOINT
    Should Have Failed With    ${unknown}    3
    Should Contain    ${unknown.stderr}    checkpoint 01NOSUCHCHECKPOINT not found
    Should Be Empty    ${unknown.stdout}
    ${invalid}=    Run Cleveragents    checkpoint    diff    ${LONG_ID}    ${first}[checkpoint_id]
    Should Have Failed With    ${invalid}    2
    ${missing}=    Run Cleveragents    checkpoint    diff    ${first}[checkpoint_id]
    Should Have Failed With    ${missing}    2
    Should Contain    ${missing.stderr}    TO_ID
    ${bare}=    Checkpoint Without A Snapshot
    ${result}=    Run Cleveragents    checkpoint    diff    ${first}[checkpoint_id]    ${bare}
    Should Have Failed With    ${result}    1
    Should Contain    ${result.stderr}    checkpoint ${bare} has no workspace snapshot
    ${checkpoints}=    Checkpoints Of Plan
    ${corrupted}=    Corrupt Every Blob
    Should Be True    ${corrupted} > 0
    ${damaged}=    Run Cleveragents    checkpoint    diff    ${first}[checkpoint_id]
    ...    ${checkpoints}[-2][checkpoint_id]
    Should Have Failed With    ${damaged}    1
    Should Be Empty    ${damaged.stdout}

Plan Status Lists The Checkpoints
    ${checkpoints}=    Checkpoints Of Plan
    ${result}=    Run Cleveragents    plan    status    ${PLAN}    --format    json
    Should Have Succeeded    ${result}
    ${status}=    Parse Json    ${result.stdout}
    Length Should Be    ${status}[checkpoints]    ${STEPS}
    FOR    ${summary}    ${checkpoint}    IN ZIP    ${status}[checkpoints]    ${checkpoints}
        ${keys}=    Get Dictionary Keys    ${summary}    sort_keys=False
        Should Be Equal    ${keys}    ${SUMMARY_FIELDS}
        Should Be Equal    ${summary}[checkpoint_id]    ${checkpoint}[checkpoint_id]
        Should Be Equal    ${summary}[created_at]    ${checkpoint}[created_at]
        Should Be Equal    ${summary}[decision_id]    ${checkpoint}[metadata][decision_id]
        ${count}=    Get Length    ${checkpoint}[metadata][extra][diff_paths]
        Should Be Equal As Integers    ${summary}[diff_path_count]    ${count}
    END
    ${plain}=    Run Cleveragents    plan    status    ${PLAN}    --format    plain
    ${lines}=    Split To Lines    ${plain.stdout}
    Should Contain    ${lines}    checkpoints: ${STEPS}
    Should Contain    ${lines}    checkpoint: ${checkpoints}[0][checkpoint_id]
    ${rich}=    Run Cleveragents    plan    status    ${PLAN}    --format    rich
    Should Contain    ${rich.stdout}    ${checkpoints}[-1][checkpoint_id]

A Plan With Only Checkpoints Is Found
    ${cleanup}=    Run Cleveragents    plan    cleanup    ${PLAN}
    Should Have Succeeded    ${cleanup}
    ${result}=    Run Cleveragents    plan    status    ${PLAN}    --format    json
    Should Have Succeeded    ${result}
    ${status}=    Parse Json    ${result.stdout}
    Should Be Empty    ${status}[changesets]
    Should Be Equal As Integers    ${status}[tool_invocations][total]    0
    Length Should Be    ${status}[checkpoints]    ${STEPS}
    ${diff}=    Run Cleveragents    plan    diff    ${PLAN}
    Should Have Succeeded    ${diff}
    Should Be Empty    ${diff.stdout}


*** Keywords ***
Record A Demo In A Fresh Database
    Use Fresh Database
    ${result}=    Run Cleveragents    demo
    Should Have Succeeded    ${result}
    ${plan}=    Get Regexp Matches    ${result.stdout}    (?m)^plan: (\\S+)$    1
    ${steps}=    Get Regexp Matches    ${result.stdout}    (?m)^step \\d+: .*$
    ${count}=    Get Length    ${steps}
    Should Be True    ${count} > 1
    Set Test Variable    ${PLAN}    ${plan}[0]
    Set Test Variable    ${STEPS}    ${count}
    Set Test Variable    ${DEMO}    ${result.stdout}

Checkpoints Of Plan
    [Documentation]    The ``checkpoints`` of ``checkpoint list ${PLAN} --format json``.
    ${result}=    Run Cleveragents    checkpoint    list    ${PLAN}    --format    json
    Should Have Succeeded    ${result}
    ${document}=    Parse Json    ${result.stdout}
    Should Be Equal    ${document}[plan_id]    ${PLAN}
    RETURN    ${document}[checkpoints]

First Checkpoint
    ${checkpoints}=    Checkpoints Of Plan
    RETURN    ${checkpoints}[0]

Show Checkpoint
    [Arguments]    ${checkpoint_id}
    ${result}=    Run Cleveragents    checkpoint    show    ${checkpoint_id}    --format    json
    Should Have Succeeded    ${result}
    ${checkpoint}=    Parse Json    ${result.stdout}
    RETURN    ${checkpoint}

Restore Checkpoint
    [Documentation]    ``checkpoint restore ID --to DIR ARGS --format json``, parsed.
    [Arguments]    ${checkpoint_id}    ${dir}    @{args}
    ${result}=    Run Cleveragents    checkpoint    restore    ${checkpoint_id}    --to    ${dir}
    ...    @{args}    --format    json
    Should Have Succeeded    ${result}
    ${restored}=    Parse Json    ${result.stdout}
    Should Be Equal    ${restored}[checkpoint_id]    ${checkpoint_id}
    RETURN    ${restored}

Diff Checkpoints
    [Documentation]    ``checkpoint diff FROM TO ARGS --format json``, parsed.
    [Arguments]    ${from}    ${to}    @{args}
    ${result}=    Run Cleveragents    checkpoint    diff    ${from}    ${to}    @{args}    --format    json
    Should Have Succeeded    ${result}
    ${diff}=    Parse Json    ${result.stdout}
    RETURN    ${diff}

Checkpoint Without A Snapshot
    [Documentation]    A manual checkpoint of ${PLAN} (no workspace snapshot), made through the library.
    ${python}=    Evaluate    sys.executable    modules=sys
    ${code}=    Catenate    SEPARATOR=\n
    ...    import sys, cleveragents
    ...    with cleveragents.open(sys.argv[1], create=False) as db:
    ...    ${SPACE*4}print(db.checkpoints.create_checkpoint(sys.argv[2], "/sandbox").checkpoint_id)
    ${result}=    Run Process    ${python}    -c    ${code}    ${DB_URL}    ${PLAN}
    Should Be Equal As Integers    ${result.rc}    0    msg=${result.stderr}
    RETURN    ${result.stdout}

New Folder Path
    [Documentation]    A path under the suite folder where nothing exists yet.
    ${name}=    Evaluate    uuid.uuid4().hex    modules=uuid
    RETURN    ${SUITE_TMP}/restore-${name}

Corrupt Every Blob
    [Documentation]    Overwrites every stored file blob in the test's SQLite file; returns how many.
    ${path}=    Evaluate    $DB_URL.removeprefix("sqlite:///")
    ${count}=    Evaluate
    ...    (lambda db: (db.execute("UPDATE checkpoint_objects SET data = X'00' WHERE kind = 'blob'").rowcount, db.commit(), db.close())[0])(sqlite3.connect($path))
    ...    modules=sqlite3
    RETURN    ${count}
