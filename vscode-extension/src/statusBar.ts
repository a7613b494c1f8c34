/** The status-bar item: model state from the server, generation speed from the trace panel. */
import * as vscode from "vscode";
import { ModelState, statusView } from "./logic/statusState";

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("semcoder.status", vscode.StatusBarAlignment.Right, 100);
  private modelState: ModelState = { kind: "starting" };
  private generating: ModelState | undefined;

  constructor() {
    this.item.name = "SemCoder";
    this.render();
    this.item.show();
  }

  setModelState(state: ModelState): void {
    this.modelState = state;
    this.render();
  }

  /** A generation in progress overrides a ready model; undefined ends it. */
  setGenerating(state: ModelState | undefined): void {
    this.generating = state;
    this.render();
  }

  get text(): string {
    return this.item.text;
  }

  private render(): void {
    const shown = this.generating && this.modelState.kind === "ready" ? this.generating : this.modelState;
    const view = statusView(shown);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.command = view.command;
    this.item.backgroundColor = view.isError ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
