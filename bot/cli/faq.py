"""Knowledge-base subcommands: ask, kb check, faq eval, faq gaps."""

from __future__ import annotations

import argparse
import json
import sys

from bot.cli._common import open_session
from bot.config import Settings


def register(commands: argparse._SubParsersAction) -> None:
    ask = commands.add_parser("ask", help="提一个问题，按居民看到的样子打印回答")
    ask.add_argument("question", nargs="?", help="问题；与 --json 同用时从标准输入逐行读取")
    ask.add_argument("--json", action="store_true", help="从标准输入逐行读问题，每行输出一个 JSON")
    ask.set_defaults(func=cmd_ask)

    kb = commands.add_parser("kb", help="问答库维护")
    kb_commands = kb.add_subparsers(dest="kb_command", metavar="操作", required=True)
    check = kb_commands.add_parser("check", help="检查问答库（格式、重复、条号、长度）")
    check.add_argument("--dir", help="问答库目录（默认为内置的 faq/data）")
    check.set_defaults(func=cmd_kb_check)

    faq = commands.add_parser("faq", help="问答效果评估与完善")
    faq_commands = faq.add_subparsers(dest="faq_command", metavar="操作", required=True)
    evaluate = faq_commands.add_parser(
        "eval", help="在标注好的问题集上计算 hit@1 / top-1 / hit@3 / 直接回答率与准确率"
    )
    evaluate.add_argument("file", help="JSON lines：id, question, in_scope, articles")
    evaluate.add_argument(
        "--half",
        choices=("tune", "check", "all"),
        help="只评估一半（按 id 的 sha1 奇偶划分）；默认有 id 时分别列出 tune、check 和全部",
    )
    evaluate.add_argument("--dir", help="问答库目录（默认为内置的 faq/data）")
    evaluate.add_argument(
        "--misses", type=int, default=30, help="最多列出多少条 tune 半的未命中（默认 30）"
    )
    evaluate.add_argument(
        "--unblind-check-misses",
        action="store_true",
        help="也列出 check 半的未命中（会破坏验证协议，仅供最终审阅，见 docs/FAQ-EVALUATION.md）",
    )
    evaluate.set_defaults(func=cmd_faq_eval)
    gaps = faq_commands.add_parser("gaps", help="列出未解答和被评为“没帮助”的问题")
    gaps.add_argument("--limit", type=int, default=50)
    gaps.set_defaults(func=cmd_faq_gaps)


def _store(data_dir: str | None = None):
    from faq.store import FaqStore

    return FaqStore(data_dir) if data_dir else FaqStore()


def result_json(result) -> dict:
    return {
        "question": result.question,
        "status": result.status,
        "confidence": round(result.confidence, 4),
        "answers": [
            {
                "id": m.entry.id,
                "question": m.entry.question,
                "articles": list(m.entry.articles),
                "score": m.score,
            }
            for m in result.matches[:3]
        ],
    }


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from bot.channels.console import render
    from bot.services.answers import result_replies

    matcher = _store().matcher
    if args.json:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(result_json(matcher.match(line.strip())), ensure_ascii=False))
                sys.stdout.flush()
        return 0
    if not args.question or not args.question.strip():
        print('请给出问题，例如：python bot.py ask "房东不退押金怎么办"', file=sys.stderr)
        return 2
    for reply in result_replies(matcher.match(args.question.strip())):
        print(render(reply) + "\n")
    return 0


def cmd_kb_check(args: argparse.Namespace, settings: Settings) -> int:
    from faq.kb import DATA_DIR, KBError, load_kb

    try:
        kb = load_kb(args.dir or DATA_DIR)
    except KBError as exc:
        print(f"问答库检查未通过，共 {len(exc.errors)} 个问题：")
        for problem in exc.errors:
            print(f"  • {problem}")
        return 1
    phrasings = sum(len(e.phrasings) for e in kb.entries)
    books = "、".join(f"{b} {sum(e.book == b for e in kb.entries)}" for b in kb.books())
    print(
        f"问答库检查通过：{len(kb)} 条问答，{phrasings} 个问法，{len(kb.vocabulary)} 个词汇映射（{books}）。"
    )
    if kb.warnings:
        print(f"另有 {len(kb.warnings)} 个提醒（旧格式条目，迁移完成后将成为错误）：")
        for warning in kb.warnings[:10]:
            print(f"  • {warning}")
    return 0


def cmd_faq_eval(args: argparse.Namespace, settings: Settings) -> int:
    from faq.evaluate import ALL, HALVES, TUNE, evaluate, has_halves, read_jsonl, select_half

    try:
        with open(args.file, encoding="utf-8") as handle:
            items = read_jsonl(handle)
    except (OSError, ValueError) as exc:
        print(f"无法读取评估文件：{exc}", file=sys.stderr)
        return 2
    halves = [args.half] if args.half else [*HALVES, ALL] if has_halves(items) else [ALL]
    matcher = _store(args.dir).matcher
    for half in halves:
        report = evaluate(matcher, select_half(items, half))
        print(f"== {half} ==\n{report.summary()}\n")
        blind = half != TUNE and has_halves(items) and not args.unblind_check_misses
        if blind:
            if report.misses:
                print(f"({len(report.misses)} misses in the {half} half are counted, not shown)\n")
            continue
        _print_misses(report.misses, args.misses)
    return 0


def _print_misses(misses: list, limit: int) -> None:
    if not misses or not limit:
        return
    print(f"misses (first {min(limit, len(misses))} of {len(misses)}):")
    for item, result in misses[:limit]:
        got = ", ".join(
            f"{m.entry.id}{list(m.entry.articles)}:{m.score:.2f}" for m in result.matches
        )
        print(
            f"- {item.get('id', '')} [{result.status}] want {item.get('articles')} got {got or '-'}"
        )
        print(f"    {item['question'][:100]}")
    print()


def cmd_faq_gaps(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.answers import describe_gap, gaps

    with open_session(settings) as session:
        rows = gaps(session, args.limit)
    if not rows:
        print("没有未解答或被评为“没帮助”的问题。")
    for row in rows:
        print(f"{row.at:%Y-%m-%d %H:%M} {row.channel} {describe_gap(row)}")
    return 0
