"""The example requests of the Open Dental API pages the mock serves (apitasks.md,
apitasknotes.md, apitasklists.md, apidefinitions.md, apiuserods.md), transcribed with the
status and body each page documents for them.

The OpenAPI document carries them as each operation's request and response examples
(schemathesis's examples phase sends the requests), and tests/test_doc_examples.py replays
every one against the default dataset. A page that gives one answer for several requests
gives it to each of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Example:
    """One example request of a page and the answer the page documents for it."""

    operation: str | None  # the mock's operationId; None: a method the mock does not serve
    method: str
    path: str  # after /api/v1, with the query string as the page writes it
    body: dict[str, Any] | None
    status: int
    answer: Any  # a list the page ends with "etc..." holds its first items
    etc: bool = False  # the page's list goes on ("etc...")
    label: str = ""  # tells apart two examples of one request

    @property
    def name(self) -> str:
        """``METHOD path``, and the label if any: how a test or a report names it."""
        return " ".join(filter(None, (self.method, self.path, self.label)))


def _task(TaskNum: int, TaskListNum: int, KeyNum: int, Descript: str, TaskStatus: str,
          ObjectType: str, DateTimeEntry: str, DateTimeFinished: str, PriorityDefNum: int,
          DateTimeOriginal: str, SecDateTEdit: str, DescriptOverride: str) -> dict[str, Any]:
    """A task as apitasks.md writes one: the fields every example of the page leaves at the
    same value are filled in, in the page's field order."""
    return {"TaskNum": TaskNum, "TaskListNum": TaskListNum, "DateTask": "0001-01-01",
            "KeyNum": KeyNum, "Descript": Descript, "TaskStatus": TaskStatus,
            "IsRepeating": "false", "DateType": "None", "FromNum": 0, "ObjectType": ObjectType,
            "DateTimeEntry": DateTimeEntry, "UserNum": 1, "DateTimeFinished": DateTimeFinished,
            "PriorityDefNum": PriorityDefNum, "ReminderGroupId": "", "ReminderType": "NoReminder",
            "ReminderFrequency": 0, "DateTimeOriginal": DateTimeOriginal,
            "SecDateTEdit": SecDateTEdit, "DescriptOverride": DescriptOverride,
            "IsReadOnly": "false"}


UNSET = "0001-01-01 00:00:00"
INSURANCE = "Please attach the Insurance card and info for this patient."

TASKS_GET_ONE = _task(1408, 14, 33, "The attached patient has requested a call back regarding "
                      "their upcoming appointment.", "New", "Patient", "2024-12-10 13:08:47", UNSET,
                      260, "2024-12-10 13:08:47", "2024-12-10 13:09:02", "")
TASKS_GET_MANY = [
    _task(9004, 74, 0, "Need to re-order general cleaning supplies by this next Friday.", "New",
          "None", "2022-10-01 11:18:11", UNSET, 358, "2022-10-07 11:18:11", "2022-10-07 11:18:36",
          ""),
    _task(9027, 74, 755,
          "Mr. Andersons Insurance needs to be verified before his next appointment.", "New",
          "Appointment", "2022-10-07 11:16:40", UNSET, 358, "2022-10-07 11:16:40",
          "2022-10-07 11:17:39", ""),
    _task(9093, 74, 73, "Need to update Rebecca's contact information.", "New", "Patient",
          "2022-10-07 11:17:41", UNSET, 358, "2022-10-07 11:17:41", "2022-10-07 11:17:59", ""),
]
TASKS_POST = {"TaskListNum": 3842, "Descript": INSURANCE, "UserNum": 12, "KeyNum": 73,
              "ObjectType": "Patient", "DateTimeEntry": "2022-10-12 08:00:00",
              "PriorityDefNum": 90, "DescriptOverride": "Patient insurance task"}
TASKS_POST_ANSWER = _task(9093, 3842, 73, INSURANCE, "New", "Patient", "2022-10-12 08:00:00",
                          UNSET, 90, "2022-10-12 07:34:41", "2022-10-12 07:34:41",
                          "Patient insurance task")
TASKS_PUT_ANSWER = _task(6857, 3842, 73, INSURANCE, "Done", "Patient", "2023-01-12 08:00:00",
                         "2023-01-15 08:00:00", 90, "2023-01-10 08:23:36", "2023-01-11 07:34:41",
                         "Patient insurance task")

NOTE_563 = {"TaskNoteNum": 563, "TaskNum": 64, "UserNum": 8, "DateTimeNote": "2025-01-15 12:46:34",
            "Note": "Sending to Dr. Smith's list."}
NOTE_567 = {"TaskNoteNum": 567, "TaskNum": 64, "UserNum": 4, "DateTimeNote": "2025-01-15 13:27:12",
            "Note": "Got it, thanks."}
NOTE_EDIT = {"DateTimeNote": "2025-01-16 09:12:00",
             "Note": "Sending back to mark done. Edit: Actually, I still need this open."}


def _tasklist(TaskListNum: int, Descript: str, Parent: int, DateType: str, ObjectType: str,
              DateTimeEntry: str) -> dict[str, Any]:
    """An archived task list as apitasklists.md writes one."""
    return {"TaskListNum": TaskListNum, "Descript": Descript, "Parent": Parent,
            "DateTL": "0001-01-01", "IsRepeating": "false", "DateType": DateType, "FromNum": 0,
            "ObjectType": ObjectType, "DateTimeEntry": DateTimeEntry, "TaskListStatus": "Archived"}


TASKLISTS_ARCHIVED = [
    _tasklist(102, "Brittany", 0, "None", "Patient", "2021-10-05 10:25:43"),
    _tasklist(103, "Brittany Paperwork", 102, "Week", "None", "2021-10-05 10:27:29"),
    _tasklist(105, "Brittany Appointments", 102, "None", "Appointment", "2021-10-05 10:28:11"),
    _tasklist(107, "Debbie", 0, "None", "None", "2021-10-28 11:46:16"),
]


def _adjustment(DefNum: int, ItemName: str, ItemValue: str) -> dict[str, Any]:
    """A definition of Category 1 (AdjTypes) as apidefinitions.md writes one."""
    return {"DefNum": DefNum, "ItemName": ItemName, "ItemValue": ItemValue, "Category": 1,
            "category": "AdjTypes", "isHidden": "false"}


DEFINITIONS = [_adjustment(293, "Sales Tax", "+"), _adjustment(8, "Professional Discount", "-"),
               _adjustment(9, "Cash Discount", "-")]
DEFINITIONS_POST_ANSWER = {"DefNum": 12, "ItemName": "Cash Discount", "ItemValue": "-",
                           "Category": 1, "category": "AdjTypes", "isHidden": "false"}

# the page writes the second and third user with ClinicNum after providerName
USERODS = [
    {"UserNum": 1, "UserName": "Lynda", "userGroupNums": [2], "EmployeeNum": 0, "employeeName": "",
     "ClinicNum": 1, "ProviderNum": 9, "providerName": "Lynda Larson, DMD",
     "emailAddress": "LyndaLarson@email.com", "IsHidden": "false", "UserNumCEMT": 0,
     "IsPasswordResetRequired": "false"},
    {"UserNum": 2, "UserName": "Charlie", "userGroupNums": [1, 5, 7], "EmployeeNum": 3,
     "employeeName": "Charles Sorenson", "ProviderNum": 0, "providerName": "", "ClinicNum": 1,
     "emailAddress": "Chuck@hotmail.com", "IsHidden": "true", "UserNumCEMT": 0,
     "IsPasswordResetRequired": "false"},
    {"UserNum": 3, "UserName": "Becca", "userGroupNums": [3, 4], "EmployeeNum": 4,
     "employeeName": "Becca Alexandria", "ProviderNum": 6, "providerName": "Becca Alexandria",
     "ClinicNum": 2, "emailAddress": "BAlexandria@gmail.com", "IsHidden": "false", "UserNumCEMT": 0,
     "IsPasswordResetRequired": "true"},
]
USERODS_POST_ANSWER = {"UserNum": 7, "UserName": "Sally", "EmployeeNum": 0, "employeeName": "",
                       "ProviderNum": 0, "providerName": "", "ClinicNum": 0, "emailAddress": "",
                       "IsHidden": "false", "UserGroupNum": 2, "Password": "My1password",
                       "IsPasswordResetRequired": "false"}
USERODS_PUT_ANSWER = {"UserNum": 2, "UserName": "User", "userGroupNums": [2, 4, 8],
                      "EmployeeNum": 3, "employeeName": "Beth Assistant", "ProviderNum": 2,
                      "providerName": "Tina Jones", "ClinicNum": 1, "emailAddress": "",
                      "IsHidden": "false", "UserNumCEMT": 0, "IsPasswordResetRequired": "false"}

# every example, page by page in the page's order (a later one may build on an earlier one:
# PUT /tasknotes/582 edits the note the POST before it creates)
EXAMPLES: dict[str, tuple[Example, ...]] = {
    "apitasks.md": (
        Example("getTask", "GET", "/tasks/1408", None, 200, TASKS_GET_ONE),
        Example("listTasks", "GET",
                "/tasks?ObjectType=Appointment&DateTimeOriginal=2022-07-01%2005%3A30%3A00",
                None, 200, TASKS_GET_MANY, etc=True),
        Example("listTasks", "GET", "/tasks?TaskStatus=New&TaskListNum=74", None, 200,
                TASKS_GET_MANY, etc=True),
        Example("createTask", "POST", "/tasks", TASKS_POST, 201, TASKS_POST_ANSWER),
        Example("updateTask", "PUT", "/tasks/6857",
                {"TaskStatus": "Done", "DateTimeEntry": "2023-01-12 08:00:00",
                 "PriorityDefNum": 90},
                200, TASKS_PUT_ANSWER),
        Example("updateTask", "PUT", "/tasks/6857",
                {"Descript": INSURANCE, "KeyNum": 73, "ObjectType": "Patient",
                 "DateTimeEntry": "2023-01-12 08:00:00", "PriorityDefNum": 90,
                 "DescriptOverride": "Patient insurance task"},
                200, TASKS_PUT_ANSWER, label="(second body)"),
    ),
    "apitasknotes.md": (
        Example("getTaskNote", "GET", "/tasknotes/563", None, 200, NOTE_563),
        Example("listTaskNotes", "GET", "/tasknotes?TaskNum=64", None, 200,
                [NOTE_563, NOTE_567]),
        Example("createTaskNote", "POST", "/tasknotes",
                {"TaskNum": 64, "UserNum": 4, "Note": "Sending back to mark done."}, 201,
                {"TaskNoteNum": 582, "TaskNum": 64, "UserNum": 4,
                 "DateTimeNote": "2025-01-16 08:29:51", "Note": "Sending back to mark done."}),
        Example("updateTaskNote", "PUT", "/tasknotes/582", NOTE_EDIT, 200,
                {"TaskNoteNum": 582, "TaskNum": 64, "UserNum": 8, **NOTE_EDIT}),
    ),
    "apitasklists.md": (
        Example("listTaskLists", "GET", "/tasklists?TaskListStatus=Archived&Offset=100",
                None, 200, TASKLISTS_ARCHIVED, etc=True),
    ),
    "apidefinitions.md": (
        *(Example("listDefinitions", "GET", path, None, 200, DEFINITIONS, etc=True)
          for path in ("/definitions", "/definitions?Offset=200", "/definitions?Category=1",
                       "/definitions?Category=1&includeHidden=true")),
        Example(None, "POST", "/definitions",
                {"ItemName": "Interest Payment", "category": "PaymentTypes"}, 201,
                DEFINITIONS_POST_ANSWER),
        Example(None, "POST", "/definitions",
                {"ItemName": "Cash Discount", "ItemValue": "-", "category": "AdjTypes",
                 "isHidden": "false"}, 201, DEFINITIONS_POST_ANSWER, label="(second body)"),
    ),
    "apiuserods.md": (
        Example("listUserods", "GET", "/userods", None, 200, USERODS, etc=True),
        Example("listUserods", "GET", "/userods?includeHidden=true", None, 200,
                USERODS, etc=True),
        Example(None, "POST", "/userods",
                {"UserName": "Sally", "UserGroupNum": 2, "Password": "My1password"}, 201,
                USERODS_POST_ANSWER),
        Example(None, "PUT", "/userods/2", {"IsHidden": "true"}, 200,
                USERODS_PUT_ANSWER),
        Example(None, "PUT", "/userods/2",
                {"userGroupNums": [2, 4, 8], "EmployeeNum": 3, "ProviderNum": 2, "ClinicNum": 1,
                 "IsHidden": "false"}, 200, USERODS_PUT_ANSWER, label="(second body)"),
    ),
}


def _first(operation: str) -> Example:
    return next(example for examples in EXAMPLES.values() for example in examples
                if example.operation == operation)


def request_example(operation: str) -> dict[str, Any] | None:
    """The body of *operation*'s first example: its OpenAPI request-body example."""
    return _first(operation).body


def response_example(operation: str) -> Any:
    """The answer the page documents for *operation*'s first example: its OpenAPI response
    example."""
    return _first(operation).answer
