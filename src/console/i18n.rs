//! The console's words in Simplified Chinese (the default) and English. A
//! text is looked up by its English form; the table is the one place both
//! languages live.

pub use crate::domain::Lang;

/// English → Simplified Chinese.
const ZH: &[(&str, &str)] = &[
    ("custos console", "custos 控制台"),
    ("Sign in", "登录"),
    ("Sign out", "退出"),
    ("Access token", "访问令牌"),
    ("Signed in as", "当前用户"),
    ("Purpose", "处理目的"),
    ("Apply", "应用"),
    ("Overview", "概览"),
    ("Search", "搜索"),
    ("Audit log", "审计日志"),
    ("Alerts", "告警"),
    ("Disposition", "处置"),
    ("Subjects", "个人信息主体"),
    ("Requests", "主体请求"),
    ("Incidents", "安全事件"),
    ("Dossier", "客户档案"),
    ("Dossiers", "客户档案"),
    ("Grade", "等级"),
    ("Region", "区域"),
    ("Any", "全部"),
    ("Query", "查询词"),
    ("No results.", "没有结果。"),
    ("Next page", "下一页"),
    ("Field", "字段"),
    ("Value", "值"),
    ("masked", "已脱敏"),
    ("withheld", "不予显示"),
    ("superseded", "已更正"),
    ("erased", "已删除"),
    ("Versions", "版本"),
    ("Version", "版本"),
    ("Compare", "比较"),
    ("Changes", "变更"),
    ("Created", "创建时间"),
    ("By", "操作人"),
    ("Documents", "文件"),
    ("Upload", "上传"),
    ("Download", "下载"),
    ("Name", "名称"),
    ("File", "文件"),
    ("Interactions", "互动记录"),
    ("Add interaction", "添加互动"),
    ("Kind", "类型"),
    ("Summary", "摘要"),
    ("Satisfaction", "满意度"),
    ("When", "时间"),
    ("Review", "定期复核"),
    ("Outcome", "结果"),
    ("Note", "备注"),
    ("Record review", "记录复核"),
    ("Legal holds", "诉讼保全"),
    ("Place hold", "设置保全"),
    ("Release", "解除"),
    ("Reason", "原因"),
    ("Case reference", "案件编号"),
    ("Jurisdiction", "法域"),
    ("Actor", "操作人"),
    ("Resource", "资源"),
    ("Subject", "主体"),
    ("Action", "操作"),
    ("From", "起"),
    ("To", "止"),
    ("Filter", "筛选"),
    ("Entry", "条目"),
    ("Time", "时间"),
    ("Inclusion proof", "包含性证明"),
    ("verified against the signed checkpoint", "已对照签名检查点验证"),
    ("does not verify", "验证失败"),
    ("Latest checkpoint", "最新检查点"),
    ("Verifier key", "验证公钥"),
    ("Window", "时间窗口"),
    ("Count", "次数"),
    ("Threshold", "阈值"),
    ("Due now", "当前到期"),
    ("Blocked by", "阻止原因"),
    ("Rule", "规则"),
    ("Due", "到期时间"),
    ("In batch", "所在批次"),
    ("Propose batch", "提议销毁批次"),
    ("Batch", "批次"),
    ("State", "状态"),
    ("Proposed by", "提议人"),
    ("Approved by", "批准人"),
    ("Approve", "批准"),
    ("Certificate", "销毁证明"),
    ("Certificates", "销毁证明"),
    ("Destroyed", "已销毁"),
    ("This dossier was destroyed.", "该档案已销毁。"),
    ("Open subject", "打开主体"),
    ("Subject id", "主体编号"),
    ("Status", "状态"),
    ("Restricted", "已限制处理"),
    ("Restrict processing", "限制处理"),
    ("Lift restriction", "解除限制"),
    ("Consents", "同意记录"),
    ("Consent history", "同意历史"),
    ("Export (JSON)", "导出 (JSON)"),
    ("Request it answers", "所答复的请求"),
    ("Erase", "删除个人信息"),
    ("Ground", "删除依据"),
    ("Erasure refused", "删除被拒绝"),
    ("Erased.", "已删除。"),
    ("Due before", "截止"),
    ("Level", "级别"),
    ("Opened", "发现时间"),
    ("Dossiers by grade", "按等级统计档案"),
    ("Dossiers by region", "按区域统计档案"),
    ("Audit entries and refusals per day", "每日审计条目与拒绝次数"),
    ("Alerts over time", "告警趋势"),
    ("Disposition backlog", "待处置积压"),
    ("entries", "条目"),
    ("refusals", "拒绝"),
    ("blocked", "被阻止"),
    ("ready", "可处置"),
    ("in a batch", "已在批次中"),
    ("Error", "错误"),
    ("Back", "返回"),
    ("Not found", "未找到"),
    ("The form has expired; reload the page and try again.", "表单已失效,请刷新页面后重试。"),
    ("Your session has ended; sign in again.", "会话已结束,请重新登录。"),
    ("The token is not valid.", "令牌无效。"),
    ("Done.", "已完成。"),
    ("Language", "语言"),
    ("Verified", "已验证"),
    ("Expires", "到期"),
    ("none", "无"),
    ("Dossier id", "档案编号"),
    ("Open dossier", "打开档案"),
    ("Processing", "处理记录"),
    ("Actions", "操作"),
    ("overdue", "已逾期"),
    ("Received", "收到时间"),
    ("extended", "已延期"),
    ("History", "历史"),
    ("Answered by", "答复依据"),
    ("Verification method", "身份核验方式"),
    ("Identity verified", "已核验身份"),
    ("Start work", "开始处理"),
    ("Audit entry (seq)", "审计条目（序号）"),
    ("Reference", "编号"),
    ("Complete", "完成"),
    ("Reason code", "理由代码"),
    ("Reasons given to the person", "告知本人的理由"),
    ("Refuse", "拒绝"),
    ("Reason for the extension", "延期理由"),
    ("Extend the period", "延长期限"),
    ("Request", "请求"),
    ("Channel", "渠道"),
    ("Received (RFC 3339; empty: now)", "收到时间（RFC 3339；留空为现在）"),
    ("Purpose (objection, withdrawal)", "处理目的（反对、撤回时）"),
    ("What the person asked", "请求内容"),
    ("Record request", "登记请求"),
    ("Incident", "安全事件"),
    ("Withdraw", "撤回"),
    ("Evidence", "同意凭证"),
    ("Given (RFC 3339; empty: now)", "同意时间（RFC 3339；留空为现在）"),
    ("Record consent", "登记同意"),
    ("kept as it is", "保持不变"),
    ("yes", "是"),
    ("no", "否"),
    ("Customer", "客户"),
    ("Contact", "联系人"),
    ("New contact", "新增联系人"),
    ("Save", "保存"),
    ("Not saved: the dossier does not conform to the template.", "未保存：档案不符合模板。"),
    ("New dossier", "新建档案"),
    ("Edit", "编辑"),
    ("Current figures only for the dossiers you may see.", "仅统计您有权查看的档案。"),
    ("Second-factor code", "动态验证码"),
    ("Set up your second factor", "设置第二认证因素"),
    ("Add this secret to your authenticator app (TOTP, 6 digits, 30 seconds), then sign in with your token and the app's current code.", "请将此密钥添加到您的身份验证器应用（TOTP，6 位，30 秒），然后使用令牌和应用当前显示的验证码登录。"),
    ("Secret", "密钥"),
    ("Recovery codes", "恢复码"),
    ("Keep these recovery codes somewhere safe: each works once in place of a code, and they are shown only now.", "请妥善保存这些恢复码：每个恢复码可代替验证码使用一次，且仅在此显示一次。"),
    ("Continue", "继续"),
    ("The code is not valid.", "验证码无效。"),
    ("Locked out after repeated wrong codes: try again later, or ask an admin to unlock you.", "验证码多次错误，账户已锁定：请稍后再试，或请管理员解锁。"),
    ("Enter the current code of your authenticator app (or a recovery code).", "请输入身份验证器应用当前显示的验证码（或一个恢复码）。"),
    ("Restriction", "限制处理"),
    ("The person was told that the restriction is about to be lifted:", "已告知本人即将解除限制处理："),
    ("recorded", "登记于"),
    ("reference kept sealed", "编号已加密保存"),
    ("No notice to the person is recorded since the restriction began.", "自限制处理开始以来，尚未登记对本人的告知。"),
    ("The person must be told before their restriction is lifted (GDPR Art. 18(3)): record how and when they were told, then lift it.", "解除限制处理前必须先告知本人（GDPR 第 18 条第 3 款）：请先登记告知的方式和时间，再解除限制。"),
    ("A notice of an earlier restriction does not count.", "此前一次限制处理的告知不计入。"),
    ("Told on (RFC 3339; not in the future)", "告知时间（RFC 3339；不得晚于现在）"),
    ("Reference (optional; kept sealed)", "编号（可选；加密保存）"),
    ("Record notice", "登记告知"),
    ("Restriction not lifted", "未解除限制处理"),
    ("Letter", "信函"),
    ("Email", "电子邮件"),
    ("Phone", "电话"),
    ("In person", "当面"),
    ("Portal", "在线门户"),
    ("Today", "今日工作"),
    ("Analysis", "数据分析"),
    ("at the time", "（当时的角色）"),
    ("the scheduler", "定时任务"),
    ("What changed", "查看变更"),
    ("First version", "首个版本"),
    ("Follow up by", "计划回访日期"),
    ("At a glance", "概要"),
    ("set by hand", "人工设定"),
    ("by the grading rules", "按分级规则"),
    ("Orders", "订单数"),
    ("Amount", "金额"),
    ("Return rate", "退货率"),
    ("Stage", "客户阶段"),
    ("Owner", "负责人"),
    ("Next review", "下次复核"),
    ("Last contact", "最近联系"),
    ("none yet", "尚无"),
    ("Open follow-ups", "待回访"),
    ("Dossier sections", "档案分区"),
    ("Fields", "档案内容"),
    ("Basic information", "基本信息"),
    ("Contacts", "联系人"),
    ("Transport needs", "运输需求"),
    ("Service preferences", "服务偏好"),
    ("Finance and credit", "财务与信用"),
    ("Remarks and tags", "备注与标签"),
    ("Your previous visit", "上次访问"),
    ("Nothing is waiting for you.", "目前没有待办事项。"),
    ("Follow-ups I promised", "我承诺的回访"),
    ("None open.", "没有未完成的回访。"),
    ("Record the follow-up", "记录回访"),
    ("Reviews due", "待复核"),
    ("None due in the next two weeks.", "未来两周内没有到期的复核。"),
    ("Grade changes since your last visit", "上次访问以来的等级变化"),
    ("None.", "无。"),
    ("My customers", "我的客户"),
    ("No customers yet.", "暂无客户。"),
    ("Showing the most recently changed", "仅显示最近更新的"),
    ("search", "搜索"),
    ("for the others.", "查找其他客户。"),
    ("Requests due within a week", "一周内到期的主体请求"),
    ("Incident deadlines within a week", "一周内到期的安全事件通知"),
    ("Notify", "通知对象"),
    ("Batches awaiting your approval", "等待您批准的销毁批次"),
    ("Items", "条目数"),
    ("Items due for disposition that a legal hold keeps", "因诉讼保全而暂缓处置的条目"),
    ("Latest alerts", "最新告警"),
    ("All alerts", "全部告警"),
    ("Administration", "系统管理"),
    ("Backups", "备份"),
    ("scheduled", "已按计划执行"),
    ("not configured", "未配置"),
];

/// `en` in `lang`.
pub fn t(lang: Lang, en: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Zh => ZH.iter().find(|(e, _)| *e == en).map_or(en, |(_, z)| z),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_one_chinese_form() {
        for (i, (en, zh)) in ZH.iter().enumerate() {
            assert!(!zh.is_empty(), "{en}");
            assert!(!ZH[..i].iter().any(|(e, _)| e == en), "{en} twice");
        }
        assert_eq!(t(Lang::Zh, "Sign in"), "登录");
        assert_eq!(t(Lang::En, "Sign in"), "Sign in");
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
    }

    /// Every English text a console page passes to `t` (`t("…")`,
    /// `page.t("…")`, `t(lang, "…")`) has its Chinese form: a page never
    /// shows English on a Chinese screen because a text was forgotten.
    #[test]
    fn every_text_the_pages_use_has_a_chinese_form() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console");
        let mut missing = Vec::new();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("i18n.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("t(") {
                if text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = text[i + 2..].trim_start_matches("lang, ").trim_start_matches("self.session.lang, ");
                let Some(lit) = rest.strip_prefix('"') else { continue };
                let Some(end) = lit.find('"') else { continue };
                let en = &lit[..end];
                seen += 1;
                if !ZH.iter().any(|(e, _)| *e == en) {
                    missing.push(format!("{}: {en}", path.display()));
                }
            }
        }
        assert!(seen > 200, "the scan found the pages' texts ({seen})");
        assert!(missing.is_empty(), "texts without a Chinese form: {missing:#?}");
    }
}
