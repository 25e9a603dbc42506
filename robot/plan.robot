*** Settings ***
Documentation       ``cleveragents demo`` records a plan; ``plan list``, ``plan status``,
...                 ``plan diff``, ``plan cleanup`` and ``plan delete`` read it back (and remove
...                 it) from new processes, in every format.
Resource            resources/cli.resource
Suite Setup         Create Suite Temp Dir
Suite Teardown      Remove Suite Temp Dir
Test Setup          Record A Demo Plan In A Fresh Database


*** Variables ***
@{SUMMARY_FIELDS}       changeset_id    plan_id    files_changed    created    modified
...                     deleted    renamed    insertions    deletions    tool_invocations
...                     failed_invocations    paths    rolled_back
@{ENTRY_FIELDS}         entry_id    changeset_id    plan_id    path    operation    old_path
...                     before_hash    after_hash    diff    insertions    deletions
...                     tool_invocation_id    metadata    created_at
...                     kind    before_mode    after_mode    rolled_back_by
@{PLAN_INFO_FIELDS}     plan_id    changesets    entries    tool_invocations    checkpoints
...                     cancelled    last_activity
@{DELETION_FIELDS}      plan_id    entries    tool_invocations    changesets    checkpoints
${LONG_ID}              xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx


*** Test Cases ***
Demo Prints Status, Diff And The Commands To Look Again
    ${result}=    Run Cleveragents    demo
    Should Have Succeeded    ${result}
    Should Match Regexp    ${result.stdout}    (?m)^plan: demo-\\S+$
    Should Contain    ${result.stdout}    == plan status ==
    Should Contain    ${result.stdout}    == plan diff ==
    Should Contain    ${result.stdout}    No module named 'requests'
    Should Contain    ${result.stdout}    \# rename tests/test_util.py -> tests/test_app.py
    Should Contain    ${result.stdout}    cleveragents --database-url ${DB_URL} plan status demo-
    Should Contain    ${result.stdout}    cleveragents --database-url ${DB_URL} checkpoint list demo-

Status As Json Carries The Summary Fields And Counts
    ${result}=    Run Cleveragents    plan    status    ${PLAN}    --format    json
    Should Have Succeeded    ${result}
    ${status}=    Parse Json    ${result.stdout}
    Status Document Should Describe The Demo    ${status}

Status As Yaml Carries The Same Document
    ${result}=    Run Cleveragents    plan    status    ${PLAN}    --format    yaml
    Should Have Succeeded    ${result}
    ${status}=    Parse Yaml    ${result.stdout}
    Status Document Should Describe The Demo    ${status}
    ${json}=    Run Cleveragents    plan    status    ${PLAN}    --format    json
    ${from_json}=    Parse Json    ${json.stdout}
    Should Be Equal    ${status}    ${from_json}

Status As Plain Text Lists The Fields
    ${result}=    Run Cleveragents    plan    status    ${PLAN}    --format    plain
    Should Have Succeeded    ${result}
    ${lines}=    Split To Lines    ${result.stdout}
    FOR    ${line}    IN    plan: ${PLAN}    changeset: ${CHANGESET}    ${SPACE*2}files_changed: 5
    ...    ${SPACE*2}created: 1    ${SPACE*2}modified: 2    ${SPACE*2}deleted: 1
    ...    ${SPACE*2}renamed: 1    failed_invocations: 1
        Should Contain    ${lines}    ${line}
    END
    Should Match Regexp    ${result.stdout}    (?m)^tool_invocations: \\d+$
    Should Match Regexp    ${result.stdout}    (?m)^failure: run_tests \\(\\S+\\)$
    Should Contain    ${result.stdout}    ModuleNotFoundError: No module named 'requests'

Status As Rich Text Shows The Plan
    ${result}=    Run Cleveragents    plan    status    ${PLAN}    --format    rich
    Should Have Succeeded    ${result}
    Should Contain    ${result.stdout}    ${PLAN}
    Should Contain    ${result.stdout}    ${CHANGESET}
    Should Contain    ${result.stdout}    run_tests
    Should Contain    ${result.stdout}    1 created, 2 modified, 1 deleted, 1 renamed

Status Defaults To Plain Text When Piped
    ${default}=    Run Cleveragents    plan    status    ${PLAN}
    ${plain}=    Run Cleveragents    plan    status    ${PLAN}    --format    plain
    Should Have Succeeded    ${default}
    Should Be Equal    ${default.stdout}    ${plain.stdout}

Format Values Are Case Insensitive
    ${result}=    Run Cleveragents    plan    status    ${PLAN}    --format    JSON
    Should Have Succeeded    ${result}
    ${status}=    Parse Json    ${result.stdout}
    Should Be Equal    ${status}[plan_id]    ${PLAN}

Json Stays Parseable With Debug Logs
    ${result}=    Run Cleveragents    --debug    plan    status    ${PLAN}    --format    json
    Should Be Equal As Integers    ${result.rc}    0
    Should Not Be Empty    ${result.stderr}
    ${status}=    Parse Json    ${result.stdout}
    Should Be Equal    ${status}[plan_id]    ${PLAN}

Diff As Json Lists Every Entry In Recording Order
    ${result}=    Run Cleveragents    plan    diff    ${PLAN}    --format    json
    Should Have Succeeded    ${result}
    ${diff}=    Parse Json    ${result.stdout}
    Should Be Equal    ${diff}[plan_id]    ${PLAN}
    ${operations}=    Evaluate    [e["operation"] for e in $diff["entries"]]
    ${expected}=    Create List    modify    create    modify    delete    rename
    Should Be Equal    ${operations}    ${expected}
    FOR    ${entry}    IN    @{diff}[entries]
        ${keys}=    Get Dictionary Keys    ${entry}    sort_keys=False
        Should Be Equal    ${keys}    ${ENTRY_FIELDS}
        Should Be Equal    ${entry}[changeset_id]    ${CHANGESET}
        Should Start With    ${entry}[diff]    ---
    END
    Should Be Equal    ${diff}[entries][4][old_path]    tests/test_util.py
    Should Be Equal    ${diff}[entries][4][path]    tests/test_app.py
    Should Be Equal    ${diff}[entries][1][before_hash]    ${None}
    Should Be Equal    ${diff}[entries][3][after_hash]    ${None}
    Should Match Regexp    ${diff}[entries][0][after_hash]    ^[0-9a-f]{64}$

Diff Line Counts Match The Status
    ${status}=    Run Cleveragents    plan    status    ${PLAN}    --format    json
    ${summary}=    Evaluate    json.loads($status.stdout)["changesets"][0]["summary"]
    ...    modules=json
    ${diff}=    Run Cleveragents    plan    diff    ${PLAN}    --format    json
    ${entries}=    Evaluate    json.loads($diff.stdout)["entries"]    modules=json
    ${insertions}=    Evaluate    sum(e["insertions"] for e in $entries)
    ${deletions}=    Evaluate    sum(e["deletions"] for e in $entries)
    Should Be Equal As Integers    ${insertions}    ${summary}[insertions]
    Should Be Equal As Integers    ${deletions}    ${summary}[deletions]

Diff As Yaml Lists Every Entry
    ${result}=    Run Cleveragents    plan    diff    ${PLAN}    --format    yaml
    Should Have Succeeded    ${result}
    ${diff}=    Parse Yaml    ${result.stdout}
    Length Should Be    ${diff}[entries]    5

Diff As Plain Text Has A Header Per Entry
    ${result}=    Run Cleveragents    plan    diff    ${PLAN}    --format    plain
    Should Have Succeeded    ${result}
    ${lines}=    Split To Lines    ${result.stdout}
    FOR    ${line}    IN    \# modify app/util.py    \# create app/http.py
    ...    \# modify app/main.py    \# delete app/legacy.py
    ...    \# rename tests/test_util.py -> tests/test_app.py    --- a/app/util.py
    ...    +++ b/app/http.py    +++ /dev/null    +def slugify(text: str) -> str:
        Should Contain    ${lines}    ${line}
    END

Diff As Rich Text Shows The Diffs
    ${result}=    Run Cleveragents    plan    diff    ${PLAN}    --format    rich
    Should Have Succeeded    ${result}
    Should Contain    ${result.stdout}    \# rename tests/test_util.py -> tests/test_app.py
    Should Contain    ${result.stdout}    +def slugify(text: str) -> str:

Diff Path Glob Filters Entries
    ${app}=    Diff Entries    --path    app/*
    ${paths}=    Evaluate    [e["path"] for e in $app]
    ${expected}=    Create List    app/util.py    app/http.py    app/main.py    app/legacy.py
    Should Be Equal    ${paths}    ${expected}
    ${python}=    Diff Entries    --path    *.py
    Length Should Be    ${python}    5
    ${readme}=    Diff Entries    --path    README.md
    Should Be Empty    ${readme}

Diff Path Glob Matches The Old Path Of A Rename
    ${entries}=    Diff Entries    --path    tests/test_util.py
    Length Should Be    ${entries}    1
    Should Be Equal    ${entries}[0][operation]    rename

Diff Without Matches Prints Nothing
    ${plain}=    Run Cleveragents    plan    diff    ${PLAN}    --path    no/such/*
    Should Have Succeeded    ${plain}
    Should Be Empty    ${plain.stdout}
    ${json}=    Run Cleveragents    plan    diff    ${PLAN}    --path    no/such/*    --format    json
    Should Have Succeeded    ${json}
    ${diff}=    Parse Json    ${json.stdout}
    Should Be Equal    ${diff}[plan_id]    ${PLAN}
    Should Be Empty    ${diff}[entries]

Diff Of One Changeset
    ${entries}=    Diff Entries    --changeset    ${CHANGESET}
    Length Should Be    ${entries}    5
    ${entries}=    Diff Entries    --changeset    ${CHANGESET}    --path    app/http.py
    Length Should Be    ${entries}    1
    Should Be Equal    ${entries}[0][operation]    create

Diff Of An Unknown Changeset Is Not Found
    ${result}=    Run Cleveragents    plan    diff    ${PLAN}    --changeset    01NOSUCHCHANGESET
    Should Have Failed With    ${result}    3
    Should Be Empty    ${result.stdout}

Diff Of A Changeset Of Another Plan Is Not Found
    ${other_plan}    ${other_changeset}=    Record Demo Plan
    ${result}=    Run Cleveragents    plan    diff    ${PLAN}    --changeset    ${other_changeset}
    Should Have Failed With    ${result}    3
    ${entries}=    Diff Entries    --changeset    ${CHANGESET}
    Length Should Be    ${entries}    5

Unknown Plan Is Not Found
    FOR    ${command}    IN    status    diff
        ${result}=    Run Cleveragents    plan    ${command}    no-such-plan
        Should Have Failed With    ${result}    3
        Should Contain    ${result.stderr}    no-such-plan
        Should Be Empty    ${result.stdout}
    END
    ${json}=    Run Cleveragents    plan    status    no-such-plan    --format    json
    Should Have Failed With    ${json}    3
    Should Be Empty    ${json.stdout}

Invalid Plan Ids Are Usage Errors
    FOR    ${command}    IN    status    diff    cleanup
        FOR    ${bad}    IN    ${LONG_ID}    ${SPACE}padded${SPACE}    ${EMPTY}    ${SPACE*2}
            ${result}=    Run Cleveragents    plan    ${command}    ${bad}
            Should Have Failed With    ${result}    2
        END
    END

Invalid Changeset Id Is A Usage Error
    ${result}=    Run Cleveragents    plan    diff    ${PLAN}    --changeset    ${LONG_ID}
    Should Have Failed With    ${result}    2

A 64 Character Id Is Accepted
    ${id}=    Evaluate    "p" * 64
    ${result}=    Run Cleveragents    plan    status    ${id}
    Should Have Failed With    ${result}    3

Cleanup Deletes Everything Once
    ${first}=    Run Cleveragents    plan    cleanup    ${PLAN}
    Should Have Succeeded    ${first}
    Should Match Regexp    ${first.stdout}    ^\\d+$
    Should Be True    ${first.stdout} > 0
    ${second}=    Run Cleveragents    plan    cleanup    ${PLAN}
    Should Have Succeeded    ${second}
    Should Be Equal    ${second.stdout}    0
    # Cleanup deletes the changeset artifacts; the checkpoints go with ``checkpoint prune``.
    ${pruned}=    Run Cleveragents    checkpoint    prune    ${PLAN}    --keep    0
    Should Have Succeeded    ${pruned}
    ${status}=    Run Cleveragents    plan    status    ${PLAN}
    Should Have Failed With    ${status}    3
    ${diff}=    Run Cleveragents    plan    diff    ${PLAN}
    Should Have Failed With    ${diff}    3

Cleanup Leaves Other Plans Alone
    ${other_plan}    ${other_changeset}=    Record Demo Plan
    ${cleanup}=    Run Cleveragents    plan    cleanup    ${PLAN}
    Should Have Succeeded    ${cleanup}
    ${status}=    Run Cleveragents    plan    status    ${other_plan}    --format    json
    Should Have Succeeded    ${status}
    ${document}=    Parse Json    ${status.stdout}
    Should Be Equal    ${document}[changesets][0][summary][changeset_id]    ${other_changeset}

Cleanup Of An Unknown Plan Prints Zero
    ${result}=    Run Cleveragents    plan    cleanup    no-such-plan
    Should Have Succeeded    ${result}
    Should Be Equal    ${result.stdout}    0


List As Json Carries Every Plan With Its Counts
    ${other}    ${other_changeset}=    Record Demo Plan
    ${plans}=    Listed Plans
    ${ids}=    Evaluate    [p["plan_id"] for p in $plans]
    ${expected}=    Evaluate    sorted([$PLAN, $other])
    Should Be Equal    ${ids}    ${expected}
    FOR    ${plan}    IN    @{plans}
        ${keys}=    Get Dictionary Keys    ${plan}    sort_keys=False
        Should Be Equal    ${keys}    ${PLAN_INFO_FIELDS}
        Should Be Equal As Integers    ${plan}[changesets]    1
        Should Be Equal As Integers    ${plan}[entries]    5
        Should Be Equal As Integers    ${plan}[checkpoints]    9
        Should Be True    ${plan}[tool_invocations] > 0
        Should Be True    ${plan}[cancelled] is False
        Should Match Regexp    ${plan}[last_activity]    ^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$
    END
    ${yaml}=    Run Cleveragents    plan    list    --format    yaml
    Should Have Succeeded    ${yaml}
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${from_yaml}    ${plans}

List Pages With Limit And After
    ${other}    ${other_changeset}=    Record Demo Plan
    ${first}    ${second}=    Evaluate    sorted([$PLAN, $other])
    ${page}=    Listed Plans    --limit    1
    Length Should Be    ${page}    1
    Should Be Equal    ${page}[0][plan_id]    ${first}
    ${page}=    Listed Plans    --limit    1    --after    ${first}
    Length Should Be    ${page}    1
    Should Be Equal    ${page}[0][plan_id]    ${second}
    ${page}=    Listed Plans    --after    ${second}
    Should Be Empty    ${page}
    ${plain}=    Run Cleveragents    plan    list    --after    ${second}
    Should Have Succeeded    ${plain}
    Should Be Empty    ${plain.stdout}
    FOR    ${bad}    IN    0    10001    -1    x
        ${result}=    Run Cleveragents    plan    list    --limit    ${bad}
        Should Have Failed With    ${result}    2
    END
    ${result}=    Run Cleveragents    plan    list    --after    ${LONG_ID}
    Should Have Failed With    ${result}    2

List As Plain And Rich Text Names Every Plan
    ${plain}=    Run Cleveragents    plan    list    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    FOR    ${line}    IN    plan: ${PLAN}    ${SPACE*2}changesets: 1    ${SPACE*2}entries: 5
    ...    ${SPACE*2}checkpoints: 9    ${SPACE*2}cancelled: false
        Should Contain    ${lines}    ${line}
    END
    ${default}=    Run Cleveragents    plan    list
    Should Be Equal    ${default.stdout}    ${plain.stdout}
    ${rich}=    Run Cleveragents    plan    list    --format    rich
    Should Have Succeeded    ${rich}
    Should Contain    ${rich.stdout}    ${PLAN}

Delete Removes The Whole Plan And Prints What It Removed
    ${result}=    Run Cleveragents    plan    delete    ${PLAN}    --format    json
    Should Have Succeeded    ${result}
    ${deletion}=    Parse Json    ${result.stdout}
    ${keys}=    Get Dictionary Keys    ${deletion}    sort_keys=False
    Should Be Equal    ${keys}    ${DELETION_FIELDS}
    Should Be Equal    ${deletion}[plan_id]    ${PLAN}
    Should Be Equal As Integers    ${deletion}[entries]    5
    Should Be Equal As Integers    ${deletion}[changesets]    1
    Should Be Equal As Integers    ${deletion}[checkpoints]    9
    Should Be True    ${deletion}[tool_invocations] > 0
    FOR    ${command}    IN    plan status    plan diff    checkpoint list
        @{argv}=    Split String    ${command}
        ${gone}=    Run Cleveragents    @{argv}    ${PLAN}
        Should Have Failed With    ${gone}    3
    END
    ${plans}=    Listed Plans
    Should Be Empty    ${plans}
    ${again}=    Run Cleveragents    plan    delete    ${PLAN}
    Should Have Failed With    ${again}    3
    Should Contain    ${again.stderr}    plan ${PLAN} not found
    Should Be Empty    ${again.stdout}

Delete Prints Plain, Yaml And Rich Text
    ${second}    ${unused}=    Record Demo Plan
    ${third}    ${unused}=    Record Demo Plan
    ${plain}=    Run Cleveragents    plan    delete    ${PLAN}    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    FOR    ${line}    IN    plan: ${PLAN}    entries: 5    changesets: 1    checkpoints: 9
        Should Contain    ${lines}    ${line}
    END
    Should Match Regexp    ${plain.stdout}    (?m)^tool_invocations: \\d+$
    ${yaml}=    Run Cleveragents    plan    delete    ${second}    --format    yaml
    Should Have Succeeded    ${yaml}
    ${deletion}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${deletion}[plan_id]    ${second}
    Should Be Equal As Integers    ${deletion}[checkpoints]    9
    ${rich}=    Run Cleveragents    plan    delete    ${third}    --format    rich
    Should Have Succeeded    ${rich}
    Should Contain    ${rich.stdout}    deleted plan ${third}
    ${plans}=    Listed Plans
    Should Be Empty    ${plans}

Delete Of An Unknown Or Invalid Plan
    ${unknown}=    Run Cleveragents    plan    delete    no-such-plan
    Should Have Failed With    ${unknown}    3
    FOR    ${bad}    IN    ${LONG_ID}    ${SPACE}padded${SPACE}    ${EMPTY}
        ${result}=    Run Cleveragents    plan    delete    ${bad}
        Should Have Failed With    ${result}    2
    END
    ${missing}=    Run Cleveragents    plan    delete
    Should Have Failed With    ${missing}    2
    ${status}=    Run Cleveragents    plan    status    ${PLAN}
    Should Have Succeeded    ${status}


*** Keywords ***
Listed Plans
    [Documentation]    ``plan list ARGS --format json``, parsed.
    [Arguments]    @{args}
    ${result}=    Run Cleveragents    plan    list    @{args}    --format    json
    Should Have Succeeded    ${result}
    ${plans}=    Parse Json    ${result.stdout}
    RETURN    ${plans}

Record A Demo Plan In A Fresh Database
    Use Fresh Database
    ${plan}    ${changeset}=    Record Demo Plan
    Set Test Variable    ${PLAN}    ${plan}
    Set Test Variable    ${CHANGESET}    ${changeset}

Status Document Should Describe The Demo
    [Arguments]    ${status}
    ${keys}=    Get Dictionary Keys    ${status}    sort_keys=False
    ${expected_keys}=    Create List    plan_id    changesets    tool_invocations    checkpoints
    Should Be Equal    ${keys}    ${expected_keys}
    Should Be Equal    ${status}[plan_id]    ${PLAN}
    Length Should Be    ${status}[changesets]    1
    ${first}=    Set Variable    ${status}[changesets][0]
    ${summary}=    Set Variable    ${first}[summary]
    ${summary_keys}=    Get Dictionary Keys    ${summary}    sort_keys=False
    Should Be Equal    ${summary_keys}    ${SUMMARY_FIELDS}
    Should Be Equal    ${summary}[changeset_id]    ${CHANGESET}
    Should Be Equal    ${summary}[plan_id]    ${PLAN}
    Should Be Equal As Integers    ${summary}[files_changed]    5
    Should Be Equal As Integers    ${summary}[created]    1
    Should Be Equal As Integers    ${summary}[modified]    2
    Should Be Equal As Integers    ${summary}[deleted]    1
    Should Be Equal As Integers    ${summary}[renamed]    1
    Should Be Equal As Integers    ${summary}[failed_invocations]    1
    Should Be True    ${summary}[insertions] > 0 and ${summary}[deletions] > 0
    ${paths}=    Create List    app/http.py    app/legacy.py    app/main.py    app/util.py
    ...    tests/test_app.py
    Should Be Equal    ${summary}[paths]    ${paths}
    Should Match Regexp    ${first}[created_at]    ^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+(Z|\\+00:00)$
    ${tools}=    Set Variable    ${status}[tool_invocations]
    Should Be Equal As Integers    ${tools}[failed]    1
    # One call was made outside the changeset, so the plan has more than its changeset.
    Should Be True    ${tools}[total] > ${summary}[tool_invocations]
    Length Should Be    ${tools}[failures]    1
    ${failure}=    Set Variable    ${tools}[failures][0]
    ${failure_keys}=    Get Dictionary Keys    ${failure}    sort_keys=False
    ${expected_failure_keys}=    Create List    invocation_id    tool_name    error
    Should Be Equal    ${failure_keys}    ${expected_failure_keys}
    Should Be Equal    ${failure}[tool_name]    run_tests
    Should Contain    ${failure}[error]    No module named 'requests'
    Should Contain    ${failure}[error]    Traceback (most recent call last)
    # One pre-decision checkpoint per step of the demo, the first with every file.
    Length Should Be    ${status}[checkpoints]    9
    Should Be Equal    ${status}[checkpoints][0][decision_id]    step-1
    Should Be Equal As Integers    ${status}[checkpoints][0][diff_path_count]    5

Diff Entries
    [Documentation]    The json entries of ``plan diff ${PLAN} ARGS``.
    [Arguments]    @{args}
    ${result}=    Run Cleveragents    plan    diff    ${PLAN}    @{args}    --format    json
    Should Have Succeeded    ${result}
    ${diff}=    Parse Json    ${result.stdout}
    RETURN    ${diff}[entries]
