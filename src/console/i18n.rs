//! The console's words in Simplified Chinese (the default) and English. A
//! text is looked up by its English form; the table is the one place both
//! languages live.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh-CN" | "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

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
}
