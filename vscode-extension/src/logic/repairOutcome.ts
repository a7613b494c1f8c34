// What to tell the user once VS Code has resolved a "Repair with SemCoder" quick fix.
// VS Code shows the title the action had *before* `codeAction/resolve` (the server only
// knows whether the repair passed its checks after writing and running it), and silently
// applies nothing when the resolved action has no edit. So the outcome is said afterwards.

export const REPAIR_TITLE = "Repair with SemCoder";

export interface RepairOutcome {
  level: "info" | "warning";
  message: string;
}

/** The message for a resolved repair action; undefined for other actions. */
export function repairOutcome(title: string, hasEdit: boolean): RepairOutcome | undefined {
  if (!title.startsWith(REPAIR_TITLE)) return undefined;
  const rest = title.slice(REPAIR_TITLE.length).trim();
  if (hasEdit && rest === "(verified)") {
    return { level: "info", message: "SemCoder repaired the function: the failing call and the file's asserts pass when run." };
  }
  if (hasEdit && rest === "(unverified)") {
    return {
      level: "warning",
      message: "SemCoder changed the function, but the change is not verified: it still fails a check, or execution is off. Review it.",
    };
  }
  if (hasEdit) return undefined;
  const reason = rest.startsWith(":") ? rest.slice(1).trim() : "";
  return { level: "warning", message: reason ? `SemCoder could not repair the function: ${reason}.` : "SemCoder could not repair the function." };
}
